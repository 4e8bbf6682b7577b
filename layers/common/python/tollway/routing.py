"""Channel selection: the highest-priority tier first, weighted random order inside a tier."""

from __future__ import annotations

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


def order_channels(candidates: Sequence[Channel]) -> list[Channel]:
    """The order to try channels in: priority tiers descending, weighted random within each tier."""
    ranked = sorted(candidates, key=lambda c: -c.priority)
    out: list[Channel] = []
    for _, tier in groupby(ranked, key=lambda c: c.priority):
        out.extend(_weighted_order(list(tier)))
    return out
