"""The price list a customer sees, one way for every place that shows it: ``GET /api/pricing`` (with a
key) and the console's "Models & prices" page (with a session).

Each model is shown at the price its group pays: the catalog's price (the shipped list price × the
operator's markup, or the operator's own absolute price) × the group ratio, unrounded — the charge is
rounded up once per request. A model whose price includes a markup names it (``"markup": "2"``), so a
customer can tell a marked-up price from the list price. Midjourney actions are listed as a submit is
charged for them (``tollway.mj.pricing.price_of``), per speed, with their markup where one applies.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tollway.config.catalog import Catalog
from tollway.money import format_usd
from tollway.pricing.schema import ModelPrice

__all__ = ["mj_price_list", "price_list", "priced"]


def _scaled(value: Decimal, ratio: Decimal) -> str:
    return format(value * ratio, "f")


def priced(price: ModelPrice, ratio: Decimal) -> dict[str, Any]:
    """A model's prices as this group pays them (USD; per 1M tokens where tokens are priced)."""
    out: dict[str, Any] = {"endpoints": price.endpoints}
    if price.tokens is not None:
        tokens = {k: _scaled(v, ratio) for k, v in price.tokens.model_dump().items() if v is not None}
        out["per_million_tokens"] = tokens
    for name in ("per_call", "per_minute", "per_million_characters"):
        value = getattr(price, name)
        if value is not None:
            out[name] = _scaled(value, ratio)
    if price.per_image:
        out["per_image"] = {k: _scaled(v, ratio) for k, v in price.per_image.items()}
    if price.tools:
        out["tools_per_call"] = {k: _scaled(v, ratio) for k, v in price.tools.items()}
    if price.long_context is not None:
        out["long_context"] = {
            "threshold_input_tokens": price.long_context.threshold_input_tokens,
            "multipliers": {k: str(v) for k, v in price.long_context.multipliers.items()},
        }
    if price.service_tiers:
        out["service_tiers"] = {k: str(v) for k, v in price.service_tiers.items()}
    for name in ("context_window", "max_input_tokens", "max_output_tokens"):
        if getattr(price, name) is not None:
            out[name] = getattr(price, name)
    out["free"] = price.is_free()
    return out


def price_list(catalog: Catalog, group: str, allows: Callable[[str], bool] = lambda _: True) -> dict[str, Any]:
    """The models ``group`` is served (and ``allows``), at the prices it pays, with their markups."""
    ratio = catalog.group_ratio(group)
    data = []
    for name in catalog.models_for(group):
        price = catalog.price(name)
        if price is None or not allows(name):
            continue
        entry = {"model": name, **priced(price, ratio)}
        markup = catalog.markup(name)
        if markup != 1:  # the operator's markup on the list price, already included in the prices above
            entry["markup"] = str(markup)
        data.append(entry)
    return {"object": "list", "group": group, "ratio": str(ratio), "currency": "USD", "data": data}


def mj_price_list(catalog: Catalog, group: str) -> list[dict[str, Any]]:
    """What each Midjourney action the group is served costs at each speed — ``mj.pricing.price_of``, the
    price a submit is charged (channels list an action's base key; type-1 prices are per mode)."""
    from tollway.mj.actions import ACTIONS
    from tollway.mj.model import Mode
    from tollway.mj.pricing import price_of

    ratio = catalog.group_ratio(group)
    served = {m for c in catalog.channels if c.status.value == "enabled" and group in c.groups for m in c.models}
    rows: dict[str, dict[str, Any]] = {}
    for spec in ACTIONS.values():
        if spec.base_key not in served or spec.price_name in rows:
            continue
        usd: dict[str, str] = {}
        markups: dict[str, str] = {}
        for mode in Mode:
            action = price_of(spec, mode, catalog, ratio)
            if action is None:
                continue
            usd[mode.value] = format_usd(action.micros)
            if "markup" in action.basis:
                markups[mode.value] = action.basis["markup"]
        if usd:
            row: dict[str, Any] = {"action": spec.price_name, "by_mode": spec.by_mode, "usd": usd}
            if markups:
                row["markup"] = markups
            rows[spec.price_name] = row
    return [rows[k] for k in sorted(rows)]
