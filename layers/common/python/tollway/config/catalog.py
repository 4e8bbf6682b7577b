"""The catalog: what the relay needs from configuration, cached with a TTL.

Prices = the shipped price file, each shipped price multiplied by its markup (if the operator set one,
``tollway/pricing/markup.py``), overlaid with the operator's overrides (used as written); groups and
their ratios; channels. One snapshot is read at a time, so a request sees one consistent configuration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tollway.config.model import Channel, Group
from tollway.config.ports import ConfigStore
from tollway.pricing.markup import Markup, apply_markup, find_markup
from tollway.pricing.schema import ModelPrice, PriceFile

__all__ = ["Catalog", "CatalogCache", "marked_up"]


@dataclass(frozen=True)
class Catalog:
    prices: dict[str, ModelPrice]
    groups: dict[str, Group]
    channels: tuple[Channel, ...]
    loaded_at: float = field(default_factory=time.monotonic)
    markups: dict[str, Decimal] = field(default_factory=dict)  # model → the markup its price includes

    def price(self, model: str) -> ModelPrice | None:
        """The model's price as customers are billed before their group ratio (markup included)."""
        return self.prices.get(model)

    def markup(self, model: str) -> Decimal:
        """The markup included in :meth:`price` (1 when none applies)."""
        return self.markups.get(model, Decimal(1))

    def group_ratio(self, group: str) -> Decimal:
        found = self.groups.get(group)
        return Decimal(1) if found is None else found.ratio

    def channels_for(self, model: str, group: str) -> list[Channel]:
        return [c for c in self.channels if c.serves(model, group)]

    def models_for(self, group: str) -> list[str]:
        """Models that are both priced and served to this group by an enabled channel, sorted."""
        served = {m for c in self.channels if c.status.value == "enabled" and group in c.groups for m in c.models}
        return sorted(m for m in served if m in self.prices)


class CatalogCache:
    """Loads the catalog from the config store at most once per ``ttl_s`` (and on demand)."""

    def __init__(
        self, store: ConfigStore, shipped: PriceFile, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self._store = store
        self._shipped = shipped
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Catalog | None = None

    def fresh(self) -> Catalog | None:
        """The cached catalog if it is still fresh (no I/O), else ``None``."""
        current = self._current
        if current is not None and self._clock() - current.loaded_at < self._ttl:
            return current
        return None

    def get(self) -> Catalog:
        """The catalog, reloading it if stale (blocking: call from a worker thread in async code)."""
        current = self.fresh()
        if current is not None:
            return current
        with self._lock:
            current = self.fresh()
            if current is None:
                current = self._load()
                self._current = current
            return current

    def invalidate(self) -> None:
        self._current = None

    def _load(self) -> Catalog:
        prices, markups = marked_up(self._shipped.models, self._store.list_markups())
        for model, price in self._store.list_prices().items():
            prices[model] = price  # an operator's own price is used as written
            markups.pop(model, None)
        return Catalog(
            prices=prices,
            markups=markups,
            groups=self._store.list_groups(),
            channels=tuple(self._store.list_channels()),
            loaded_at=self._clock(),
        )


def marked_up(
    shipped: dict[str, ModelPrice], markups: dict[str, Markup]
) -> tuple[dict[str, ModelPrice], dict[str, Decimal]]:
    """The shipped prices with their markups applied, and the markup each model got (none: absent)."""
    prices = dict(shipped)
    applied: dict[str, Decimal] = {}
    if not markups:
        return prices, applied
    for model, price in shipped.items():
        found = find_markup(model, markups)
        if found is not None and found.multiplier != 1:
            prices[model] = apply_markup(price, found.multiplier)
            applied[model] = found.multiplier
    return prices, applied
