"""Money: integer micro-USD everywhere, ``Decimal`` for prices and ratios, one round-up per request.

1 USD = 1,000,000 micro-USD ("micros"). Stored amounts are ``int``; floats never appear. Operators and
customers type and read USD as decimal strings ("0.20"); those convert exactly or are refused.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

__all__ = [
    "MICROS_PER_USD",
    "MoneyError",
    "ceil_micros",
    "floor_div",
    "format_usd",
    "parse_usd",
    "usd_to_micros",
]

MICROS_PER_USD = 1_000_000
_MICRO = Decimal(MICROS_PER_USD)

# Enough digits that no price × tokens × ratio product is ever rounded before the final round-up.
_CTX = decimal.Context(prec=60, rounding=ROUND_CEILING, traps=[decimal.InvalidOperation, decimal.DivisionByZero])


class MoneyError(ValueError):
    """A USD amount that is not an exact, finite, non-negative number of micro-USD."""


def parse_usd(text: str | int | Decimal, *, allow_negative: bool = False) -> Decimal:
    """Parse a USD amount typed by a person ("0.20", "1", "12.5") into an exact ``Decimal``.

    Raises:
        MoneyError: not a number, not finite, negative (unless allowed) or finer than one micro-USD.
    """
    if isinstance(text, float):  # pragma: no cover - guarded by types; floats are never money
        raise MoneyError("amounts must be decimal strings, not floats")
    try:
        value = Decimal(str(text).strip())
    except decimal.InvalidOperation as exc:
        raise MoneyError(f"not a USD amount: {text!r}") from exc
    if not value.is_finite():
        raise MoneyError(f"not a finite USD amount: {text!r}")
    if value < 0 and not allow_negative:
        raise MoneyError(f"USD amount must not be negative: {text!r}")
    if (value * _MICRO) != (value * _MICRO).to_integral_value():
        raise MoneyError(f"USD amount finer than one micro-USD (0.000001): {text!r}")
    return value


def usd_to_micros(text: str | int | Decimal, *, allow_negative: bool = False) -> int:
    """Exact USD → micro-USD. Raises ``MoneyError`` for anything that is not exact."""
    return int(parse_usd(text, allow_negative=allow_negative) * _MICRO)


def format_usd(micros: int) -> str:
    """Micro-USD → a USD string with at least two decimals and no trailing noise ("0.20", "0.000125")."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    frac_text = f"{frac:06d}".rstrip("0")
    if len(frac_text) < 2:
        frac_text = frac_text.ljust(2, "0")
    return f"{sign}{whole}.{frac_text}"


def ceil_micros(usd: Decimal) -> int:
    """The one round-up per request: an exact USD amount → whole micro-USD, rounded towards +∞."""
    return int(_CTX.multiply(usd, _MICRO).to_integral_value(rounding=ROUND_CEILING))


def floor_div(numerator: Decimal, denominator: Decimal) -> int:
    """``floor(numerator / denominator)`` computed exactly; used to find how many tokens a balance buys."""
    if denominator <= 0:
        raise MoneyError("division by a non-positive price")
    return int(_CTX.divide(numerator, denominator).to_integral_value(rounding=ROUND_FLOOR))
