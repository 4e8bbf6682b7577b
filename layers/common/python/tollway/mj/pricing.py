"""What a Midjourney action costs: a fixed price per accepted submit, times the group ratio.

Prices come from the catalog (shipped ``pricing/prices/midjourney.json`` overlaid with the operator's
overrides), looked up most specific first: ``mj_<mode>_<name>`` then ``mj_<name>``. The hold is the
price itself: a per-call price has no output dimension, so the reservation is an ``OutputBudget``
with that fixed part and a zero per-token part. The catalog's price already includes the operator's
markup (``tollway.pricing.markup``); ``basis`` names it and the group ratio for the usage record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tollway.config.catalog import Catalog
from tollway.mj.actions import ActionSpec
from tollway.mj.model import Mode
from tollway.pricing.engine import OutputBudget, cost_of
from tollway.pricing.markup import price_basis
from tollway.pricing.usage import Usage

__all__ = ["ActionPrice", "price_of"]


@dataclass(frozen=True, slots=True)
class ActionPrice:
    key: str  # the price key used: the usage record's model
    micros: int  # the charge of an accepted submit, group ratio applied, rounded up once
    budget: OutputBudget  # what Biller.reserve holds (exactly ``micros``)
    # The usage record's price basis: the markup and group ratio in ``micros`` (empty at list price).
    basis: dict[str, str] = field(default_factory=dict)


def price_of(spec: ActionSpec, mode: Mode, catalog: Catalog, ratio: Decimal) -> ActionPrice | None:
    """The price of ``spec`` at ``mode`` for a group with ``ratio``; None when it is not priced."""
    for key in spec.price_keys(mode.value):
        price = catalog.price(key)
        if price is None or price.per_call is None:
            continue
        micros = cost_of(price, Usage(), ratio).micros
        budget = OutputBudget(fixed_usd=price.per_call * ratio, per_output_token_usd=Decimal(0))
        # Both round the same product up once: the hold is exactly what an accepted submit is charged.
        return ActionPrice(key=key, micros=micros, budget=budget, basis=price_basis(catalog.markup(key), ratio))
    return None
