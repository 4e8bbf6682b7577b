"""Small price helpers the holds of fixed-cost requests share."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["MILLION", "dearest"]

MILLION = Decimal(1_000_000)


def dearest(*prices: Decimal | None) -> Decimal:
    """The largest of the prices given (0 if none is set)."""
    return max((p for p in prices if p is not None), default=Decimal(0))
