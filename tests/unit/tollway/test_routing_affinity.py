"""Sticky routing: weighted rendezvous order by a conversation key."""

from __future__ import annotations

from collections import Counter

from tollway.config.model import Channel
from tollway.routing import order_channels


def channel(cid: str, priority: int = 0, weight: int = 1) -> Channel:
    return Channel(
        channel_id=cid, name=cid, type="anthropic", base_url="http://x", models=("m",), priority=priority, weight=weight
    )


def test_same_key_same_order_on_every_call() -> None:
    pool = [channel("a"), channel("b"), channel("c")]
    first = [c.channel_id for c in order_channels(pool, "conv-1")]
    assert all([c.channel_id for c in order_channels(list(reversed(pool)), "conv-1")] == first for _ in range(20))


def test_priority_tiers_still_come_first() -> None:
    pool = [channel("low", priority=0), channel("high", priority=5)]
    assert [c.channel_id for c in order_channels(pool, "k")] == ["high", "low"]


def test_losing_a_channel_moves_only_its_conversations() -> None:
    pool = [channel("a"), channel("b"), channel("c")]
    keys = [f"conv-{i}" for i in range(300)]
    before = {k: order_channels(pool, k)[0].channel_id for k in keys}
    after = {k: order_channels(pool[1:], k)[0].channel_id for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(before[k] == "a" for k in moved)


def test_keys_spread_by_weight() -> None:
    pool = [channel("a", weight=3), channel("b", weight=1), channel("zero", weight=0)]
    firsts = Counter(order_channels(pool, f"k{i}")[0].channel_id for i in range(2000))
    assert firsts["zero"] == 0
    assert 0.65 < firsts["a"] / 2000 < 0.85  # ≈ 3/4
