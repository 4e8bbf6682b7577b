"""bench.ladder's verdict and the store stand-in (pure parts; the ladder itself is run, never asserted)."""

from __future__ import annotations

import math

from bench.ladder import render
from bench.standin import Delayed


class _Store:
    name = "ledger"

    def balance(self, account_id: str) -> int:
        return len(account_id)


def test_the_stand_in_delegates_counts_and_leaves_attributes_alone() -> None:
    store = Delayed(_Store(), latency_s=0.0)
    assert store.balance("acct") == 4
    assert store.balance("ab") == 2
    assert store.name == "ledger"
    assert store.calls == 2


def _step(c: int, cpu: float, p99: float, errors: int = 0) -> dict[str, object]:
    delays = {"p50": 0.1, "p99": p99}
    return {
        "concurrency": c,
        "cpu_ms_per_stream": cpu,
        "cpu_us_per_chunk": cpu * 25,
        "relay_core_util": 0.1,
        "chunk_delay_ms": delays,
        "ttft_ms": {"p50": 200.0, "p99": math.nan},
        "rss_mb_max": 70.0,
        "open_sockets_max": 2 * c,
        "errors": errors,
    }


def test_the_verdict_is_the_largest_step_within_20_percent_and_5_ms() -> None:
    steps = [_step(16, 10.0, 1.0), _step(64, 11.9, 4.9), _step(256, 12.1, 1.0), _step(512, 9.0, 6.0)]
    assert render({"steps": steps}).endswith(": 64")
    steps.append(_step(1024, 10.0, 1.0, errors=1))
    assert render({"steps": steps}).endswith(": 64")
    assert render({"steps": [_step(16, 10.0, 9.0)]}).endswith(": none")
