"""Channel selection: the highest-priority tier first, weighted random order inside a tier — or, for a
request with an affinity key (a conversation), weighted rendezvous hashing inside the tier: the same key
meets the same order on every relay instance with no shared state, so a conversation stays on one
channel for as long as that channel serves it, and moves to its next channel (only) when it does not."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from itertools import groupby

from tollway.config.model import Channel

__all__ = ["order_channels"]

# Weighted choice is not security-sensitive, but after a SnapStart restore every clone would share the
# seed of a plain module-level Random; the system source needs no seeding.
_random = random.SystemRandom()


def _weighted_order(tier: Sequence[Channel]) -> list[Channel]:
    pool = list(tier)
    out: list[Channel] = []
    while pool:
        weights = [max(c.weight, 0) for c in pool]
        if sum(weights) <= 0:
            _random.shuffle(pool)
            out.extend(pool)
            break
        pick = _random.choices(range(len(pool)), weights=weights, k=1)[0]
        out.append(pool.pop(pick))
    return out


def _rendezvous_order(tier: Sequence[Channel], key: str) -> list[Channel]:
    """Weighted rendezvous (highest random weight) order: each channel's score is ``-ln(u) / weight`` with
    ``u`` a hash of (key, channel) in (0, 1); the lowest score first. A channel's share of keys is its
    share of the weights, and removing one channel moves only the keys it held."""

    def score(channel: Channel) -> float:
        digest = hashlib.blake2b(f"{key}|{channel.channel_id}".encode(), digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)
        weight = max(channel.weight, 0)
        return -math.log(u) / weight if weight else math.inf

    return sorted(tier, key=lambda c: (score(c), c.channel_id))


def order_channels(candidates: Sequence[Channel], affinity: str | None = None) -> list[Channel]:
    """The order to try channels in: priority tiers descending; within each tier weighted random, or the
    rendezvous order of ``affinity`` when the request has one."""
    ranked = sorted(candidates, key=lambda c: -c.priority)
    out: list[Channel] = []
    for _, group in groupby(ranked, key=lambda c: c.priority):
        tier = list(group)
        out.extend(_weighted_order(tier) if affinity is None else _rendezvous_order(tier, affinity))
    return out
