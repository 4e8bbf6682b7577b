"""Customer key authentication with a TTL cache.

The cache only saves reads: a key disabled after it was cached is still refused, because the reserve
write itself proves the copy current — by the key item's own conditions, or, for an unlimited key
without guards, by the account's ``key_rev`` that every key change moves (see ``ledger/dynamodb.py``).
Malformed keys never reach the store.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tollway.accounts.model import Account, ApiKey
from tollway.accounts.ports import AccountStore
from tollway.keys import hash_key, is_well_formed

__all__ = ["KeyCache", "KeyContext", "load_context"]


@dataclass(frozen=True, slots=True)
class KeyContext:
    """An authenticated caller: the key and its account as last read."""

    key: ApiKey
    account: Account

    @property
    def group(self) -> str:
        return self.account.group


def load_context(store: AccountStore, key_hash: str, account_id: str) -> KeyContext | None:
    """A key and its account, read so that the pair is safe to reserve with (blocking).

    The account first, then the key: the key is then at least as new as the account's ``key_rev``. A
    key changed in between is newer than that rev, and the reserve's ``key_rev`` condition refuses
    the pair (the key is read again) — never the other way round, an old key under a newer rev.
    """
    account = store.get_account(account_id)
    key = store.get_key(key_hash) if account is not None else None
    if key is None or account is None:
        return None
    return KeyContext(key=key, account=account)


class KeyCache:
    """``lookup(secret)`` → KeyContext or None, caching hits for ``ttl_s`` and misses for ``negative_ttl_s``."""

    def __init__(
        self,
        store: AccountStore,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_s
        self._neg_ttl = negative_ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, KeyContext | None]] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}

    def cached(self, secret: str) -> tuple[bool, KeyContext | None]:
        """``(hit, context)`` from the cache alone (no I/O). A malformed key is a hit: None."""
        if not is_well_formed(secret):
            return True, None
        digest = hash_key(secret)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or entry[0] <= self._clock():
                return False, None
            self._entries.move_to_end(digest)
            return True, entry[1]

    def lookup(self, secret: str) -> KeyContext | None:
        """Cache, then store (blocking: run in a worker thread from async code)."""
        hit, context = self.cached(secret)
        if hit:
            return context
        digest = hash_key(secret)
        # One load per key at a time: when a busy key's entry expires, the requests in flight wait for
        # the first one's read instead of all reading the key and its account again.
        with self._lock:
            loading = self._loading.setdefault(digest, threading.Lock())
        with loading:
            hit, context = self.cached(secret)
            if hit:
                return context
            try:
                return self._load(digest)
            finally:
                with self._lock:
                    self._loading.pop(digest, None)

    def _load(self, digest: str) -> KeyContext | None:
        with self._lock:
            expired = self._entries.get(digest)
        if expired is not None and expired[1] is not None:
            # A key never changes account: a refresh reads the pair straight away (2 reads, not 3).
            context = load_context(self._store, digest, expired[1].account.account_id)
        else:
            key = self._store.get_key(digest)
            context = load_context(self._store, key.key_hash, key.account_id) if key is not None else None
        ttl = self._ttl if context is not None else self._neg_ttl
        with self._lock:
            self._entries[digest] = (self._clock() + ttl, context)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return context

    def forget(self, key_hash: str) -> None:
        """Drop a key (its reserve revealed that the cached copy is stale)."""
        with self._lock:
            self._entries.pop(key_hash, None)
