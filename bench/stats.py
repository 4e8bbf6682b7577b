"""Small pure statistics helpers (no numpy in the runtime venv)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["mean", "percentile", "summary"]


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (0–100) with linear interpolation between order statistics.

    Same definition as numpy's default ("linear"): p50 of [1, 2, 3, 4] is 2.5, p100 is the max.
    Empty input gives NaN.
    """
    if not 0.0 <= pct <= 100.0:
        raise ValueError("pct must be within 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, mean, p50, p90, p99, max (NaN when empty; count 0)."""
    return {
        "count": float(len(values)),
        "mean": mean(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }
