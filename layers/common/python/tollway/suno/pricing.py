"""What a Suno action costs: a fixed price per accepted submit (``suno_music``, ``suno_lyrics`` in the
catalog: shipped ``pricing/prices/suno.json`` overlaid with the operator's overrides), times the group
ratio, rounded up once — exactly as a Midjourney action (``tollway.mj.pricing``)."""

from __future__ import annotations

from decimal import Decimal

from tollway.config.catalog import Catalog
from tollway.mj.pricing import ActionPrice
from tollway.pricing.engine import OutputBudget, cost_of
from tollway.pricing.markup import price_basis
from tollway.pricing.usage import Usage
from tollway.suno.model import PRICE_KEYS, SunoAction

__all__ = ["price_of"]


def price_of(action: SunoAction, catalog: Catalog, ratio: Decimal) -> ActionPrice | None:
    """The price of ``action`` for a group with ``ratio``; None when it is not priced per call."""
    key = PRICE_KEYS[action]
    price = catalog.price(key)
    if price is None or price.per_call is None:
        return None
    micros = cost_of(price, Usage(), ratio).micros
    # The hold is exactly what an accepted submit is charged: the same product, rounded up once.
    budget = OutputBudget(fixed_usd=price.per_call * ratio, per_output_token_usd=Decimal(0))
    return ActionPrice(key=key, micros=micros, budget=budget, basis=price_basis(catalog.markup(key), ratio))
