"""KeyCache: hits cached for the TTL, misses for the negative TTL, malformed keys never read, and a
fill that reads the account before the key (the pair the reserve's key_rev condition relies on)."""

from __future__ import annotations

from typing import Any

from tollway.accounts.model import KeyStatus
from tollway.auth import KeyCache
from tollway.keys import generate_key

from tests.support.factories import Stores, make_account, make_key


class Recording:
    """An account store that logs the reads the cache makes."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads: list[str] = []

    def get_key(self, key_hash: str) -> Any:
        self.reads.append("key")
        return self._store.get_key(key_hash)

    def get_account(self, account_id: str) -> Any:
        self.reads.append("account")
        return self._store.get_account(account_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def cache_of(stores: Stores) -> tuple[KeyCache, Recording, Clock]:
    recording, clock = Recording(stores.accounts), Clock()
    cache = KeyCache(recording, ttl_s=60, negative_ttl_s=5, clock=clock)  # type: ignore[arg-type]
    return cache, recording, clock


def test_a_hit_is_cached_for_the_ttl_and_refreshed_account_first(stores: Stores) -> None:
    cache, recording, clock = cache_of(stores)
    account = make_account(stores, 1_000)
    secret, key = make_key(stores, account)

    first = cache.lookup(secret)
    assert first is not None and first.key.key_id == key.key_id
    assert recording.reads == ["key", "account", "key"]  # the key again, after its account

    clock.now += 59
    assert cache.lookup(secret) is first
    assert len(recording.reads) == 3  # still cached

    stores.accounts.set_key_status(key.key_id, KeyStatus.DISABLED)
    clock.now += 2
    refreshed = cache.lookup(secret)
    assert refreshed is not None and refreshed.key.status is KeyStatus.DISABLED
    assert refreshed.account.key_rev == first.account.key_rev + 1
    assert recording.reads[3:] == ["account", "key"]  # a refresh knows the account: two reads


def test_a_miss_is_cached_briefly_and_a_malformed_key_is_never_read(stores: Stores) -> None:
    cache, recording, clock = cache_of(stores)
    unknown = generate_key()  # well-formed, never stored
    assert cache.lookup("sk-not-a-key") is None
    assert recording.reads == []  # malformed: refused without a read
    assert cache.lookup(unknown) is None
    assert recording.reads == ["key"]
    clock.now += 4
    assert cache.lookup(unknown) is None
    assert recording.reads == ["key"]  # the miss is cached for the negative TTL
    clock.now += 2
    assert cache.lookup(unknown) is None
    assert recording.reads == ["key", "key"]  # then read again


def test_forget_drops_an_entry(stores: Stores) -> None:
    cache, recording, _ = cache_of(stores)
    account = make_account(stores, 1_000)
    secret, key = make_key(stores, account)
    cache.lookup(secret)
    cache.forget(key.key_hash)
    cache.lookup(secret)
    assert recording.reads == ["key", "account", "key", "key", "account", "key"]
