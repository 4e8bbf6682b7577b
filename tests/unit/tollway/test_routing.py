from __future__ import annotations

from collections import Counter

from tollway.config.model import Channel, ChannelStatus
from tollway.routing import order_channels


def channel(cid: str, priority: int = 0, weight: int = 1) -> Channel:
    return Channel(
        channel_id=cid, name=cid, type="openai", base_url="https://x", models=("m",), priority=priority, weight=weight
    )


def test_higher_priority_tiers_come_first() -> None:
    order = order_channels([channel("low", 0), channel("high", 5), channel("mid", 2)])
    assert [c.channel_id for c in order] == ["high", "mid", "low"]


def test_weights_decide_the_first_pick_within_a_tier() -> None:
    firsts = Counter(
        order_channels([channel("a", weight=9), channel("b", weight=1)])[0].channel_id for _ in range(2000)
    )
    assert firsts["a"] > 1600 and firsts["b"] > 100  # 90% / 10%, generous bounds for randomness


def test_disabled_channels_do_not_serve() -> None:
    off = channel("off").replace(status=ChannelStatus.AUTO_DISABLED)
    assert not off.serves("m", "default")
    assert channel("on").serves("m", "default") and not channel("on").serves("m", "vip")
