"""The mock's prompt cache: which prefixes each upstream key has cached, and until when.

Anthropic caches per organisation and model; the mock keys entries by (API key, prefix hash) — the hash
already covers the model — so a conversation that moves to another key misses, which is what sticky
routing is for. Entries expire after their TTL (5 minutes or 1 hour, refreshed on every hit), and
`POST /_mock/reset` empties the cache. Everything runs on the server's event loop: no locking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tollway_local.mock.message_usage import Breakpoint
    from tollway_local.mock.stats import MockStats

#: Entries kept per mock before the oldest are dropped (bounded memory under a long benchmark).
MAX_ENTRIES = 100_000


@dataclass(slots=True)
class PromptCache:
    generation: int = 0
    #: (key, prefix hash) → expiry on the monotonic clock.
    entries: dict[tuple[str, str], float] = field(default_factory=dict)

    def cached(self, key: str, hashes: Iterable[str], now: float | None = None) -> frozenset[str]:
        """The given prefix hashes that `key` has cached and that have not expired."""
        moment = time.monotonic() if now is None else now
        return frozenset(h for h in hashes if self.entries.get((key, h), 0.0) > moment)

    def store(self, key: str, points: Iterable[Breakpoint], now: float | None = None) -> None:
        """Write (or refresh) every breakpoint's prefix for `key`."""
        moment = time.monotonic() if now is None else now
        for point in points:
            entry = (key, point.prefix_hash)
            self.entries.pop(entry, None)  # re-insert: dict order is then oldest-refreshed first
            self.entries[entry] = moment + point.ttl_s
        while len(self.entries) > MAX_ENTRIES:
            del self.entries[next(iter(self.entries))]


_CACHES: dict[str, PromptCache] = {}


def cache_of(stats: MockStats) -> PromptCache:
    """The prompt cache of one mock instance; a reset (a new stats generation) empties it."""
    cache = _CACHES.get(stats.instance)
    if cache is None or cache.generation != stats.generation:
        cache = _CACHES[stats.instance] = PromptCache(generation=stats.generation)
    return cache
