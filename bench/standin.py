"""A store stand-in for the concurrency ladder: the in-memory stores behind a fixed round trip.

The ladder measures one relay process holding many streams; the DynamoDB emulator cannot take that
rate (it is serialised Python, 2–6 ms of CPU per call), and its cost is not the relay's. So every
store call here does what a boto3 call does to the relay's process — occupy one of the relay's
store worker threads for a network round trip (``time.sleep``, which releases the GIL as a socket
wait does) and, optionally, burn ``cpu_ms`` of CPU while holding the GIL (boto3's own serialise /
sign / parse work, ≈1.1–1.5 ms per call measured in docs/benchmark.md) — and then answers from the
in-memory stores, which keep every money rule the DynamoDB ones keep (the same contract tests).

Only the wrapper is new: the relay, its pipeline and the stores' protocols are the product's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Delayed", "burn"]


def burn(seconds: float) -> None:
    """Spin on the CPU for `seconds` of thread CPU time (holding the GIL, as boto3's Python work does)."""
    if seconds <= 0:
        return
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Delayed:
    """Wraps a store: each public method first waits `latency_s` and burns `cpu_s`, then delegates.

    Reads of plain attributes pass through untouched. `calls` counts the delayed calls (all threads;
    a lost increment under a race only blurs a printed figure)."""

    def __init__(self, inner: object, *, latency_s: float, cpu_s: float = 0.0) -> None:
        self._inner = inner
        self._latency_s = latency_s
        self._cpu_s = cpu_s
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value):
            return value
        method: Callable[..., Any] = value

        def delayed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            burn(self._cpu_s)
            time.sleep(self._latency_s)
            return method(*args, **kwargs)

        return delayed
