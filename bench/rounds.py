"""One cell from several rounds of it: the relay and the floor measured in alternation.

A ratio of two processes' CPU is only as good as the two windows are alike. On a shared virtual
machine the host's speed drifts over minutes: in two runs back to back the mock, the load generator
and the emulator all cost 20–35% more per request in one than in the other, and the relay's cell,
which runs after the floor's, caught more of it. With ``--rounds R`` each C's floor and relay cells
are cut into R rounds, run floor, relay, floor, relay, …, and merged here: both figures then span the
same stretch of time and a drift lands on both.

Merging: counts add up; ``*_per_request`` costs are weighted by the requests of each round, the other
costs (utilisations) by each round's window; throughput is all requests over the rounds' summed
load time; latency is recomputed from all samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["merge_costs", "merge_rounds", "split"]


def split(count: int, rounds: int) -> list[int]:
    """``count`` requests over ``rounds`` rounds, as even as integers allow (every round at least 1)."""
    rounds = max(1, min(rounds, count))
    base, extra = divmod(count, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds)]


def _weighted(values: Sequence[tuple[float | None, float]]) -> float | None:
    known = [(v, w) for v, w in values if v is not None and w > 0]
    total = sum(w for _, w in known)
    if not known or total <= 0:
        return None
    return sum(v * w for v, w in known) / total


def merge_costs(costs: Sequence[Mapping[str, Any]], requests: Sequence[int]) -> dict[str, Any]:
    """The costs of the rounds as one window (see the module docstring for the weights)."""
    merged: dict[str, Any] = {}
    windows = [float(c.get("window_s") or 0.0) for c in costs]
    for key in dict.fromkeys(k for c in costs for k in c):
        values = [c.get(key) for c in costs]
        if not all(v is None or isinstance(v, int | float) for v in values):
            merged[key] = values[-1]  # not a number: the last round's
        elif key == "window_s":
            merged[key] = sum(windows)
        elif key.endswith("_per_request"):
            merged[key] = _weighted(list(zip(values, map(float, requests), strict=True)))
        else:
            merged[key] = _weighted(list(zip(values, windows, strict=True)))
    return merged


def merge_rounds(cells: Sequence[Mapping[str, Any]], latency: dict[str, Any]) -> dict[str, Any]:
    """One cell from its rounds (same target, mode and C); ``latency`` is computed over all samples."""
    if not cells:
        raise ValueError("no rounds to merge")
    requests = [int(c["requests"]) for c in cells]
    total = sum(requests)
    merged = dict(cells[-1])  # target, mode, concurrency, and the last round's memory figures
    merged["requests"] = total
    merged["rounds"] = len(cells)
    merged["errors"] = sum(int(c["errors"]) for c in cells)
    merged["error_examples"] = [e for c in cells for e in c["error_examples"]][:3]
    busy_s = sum(n / float(c["throughput_per_s"]) for n, c in zip(requests, cells, strict=True))
    merged["throughput_per_s"] = total / busy_s if busy_s > 0 else float("nan")
    merged["response_bytes_mean"] = (
        sum(float(c["response_bytes_mean"]) * n for n, c in zip(requests, cells, strict=True)) / total
    )
    merged["latency"] = latency
    merged["costs"] = merge_costs([c["costs"] for c in cells], requests)
    return merged
