"""Channel secrets, fetched lazily and cached in memory with a TTL (never logged, never listed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tollway.config.ports import SecretStore

__all__ = ["ChannelSecrets", "channel_secret_name"]


def channel_secret_name(prefix: str, channel_id: str) -> str:
    return f"{prefix}channel/{channel_id}"


class ChannelSecrets:
    def __init__(
        self, store: SecretStore, prefix: str, *, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None]] = {}

    def cached(self, channel_id: str) -> tuple[bool, str | None]:
        with self._lock:
            entry = self._cache.get(channel_id)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def get(self, channel_id: str) -> str | None:
        """The channel's key (blocking on a cache miss)."""
        hit, value = self.cached(channel_id)
        if hit:
            return value
        value = self._store.get(channel_secret_name(self._prefix, channel_id))
        with self._lock:
            self._cache[channel_id] = (self._clock() + self._ttl, value)
        return value

    def evict(self, channel_id: str) -> None:
        """Forget a key (after an upstream 401 the next request re-reads it once)."""
        with self._lock:
            self._cache.pop(channel_id, None)

    def put(self, channel_id: str, value: str) -> None:
        self._store.put(channel_secret_name(self._prefix, channel_id), value)
        self.evict(channel_id)

    def delete(self, channel_id: str) -> None:
        self._store.delete(channel_secret_name(self._prefix, channel_id))
        self.evict(channel_id)
