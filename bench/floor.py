"""The relay against the passthrough floor (``bench/floor_app.py``), from the cells of one run.

Both figures of a ratio come from the same run: the same mock upstream, the same load generator and
the same CPU measurement (utime + stime of the process from /proc over the measured window ÷ N), each
process alone on the relay's core, their cells back to back for each concurrency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RATIO_TARGETS", "TARGET_CONCURRENCY", "added_latency", "compare", "cpu_rows", "ratio_range"]

#: The most relay CPU per request the project accepts, as a multiple of the floor's, at
#: TARGET_CONCURRENCY (non-streaming requests; 40-chunk streams).
RATIO_TARGETS: dict[str, float] = {"ns": 2.0, "stream": 1.5}
TARGET_CONCURRENCY = 16

Cells = Mapping[tuple[str, str, int], Mapping[str, Any]]


def _index(cells: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, int], Mapping[str, Any]]:
    return {(c["target"], c["mode"], c["concurrency"]): c for c in cells}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0 or math.isnan(numerator):
        return None
    return numerator / denominator


def ratio_range(
    relay_ms: float, floor_ms: float, relay_err_ms: float, floor_err_ms: float
) -> tuple[float, float | None]:
    """The lowest and highest relay ÷ floor that per-request CPU figures off by up to the given errors
    allow (the highest is None — unbounded — when the floor's figure could be 0)."""
    low = max(0.0, relay_ms - relay_err_ms) / (floor_ms + floor_err_ms)
    high = (relay_ms + relay_err_ms) / (floor_ms - floor_err_ms) if floor_ms > floor_err_ms else None
    return low, high


def cpu_rows(cells: Cells, tick_ms: float = 10.0) -> list[dict[str, Any]]:
    """One row per (mode, C) that has both a floor and a relay cell: each process's CPU ms per request
    and relay ÷ floor; at TARGET_CONCURRENCY also the target ratio and whether it was met.

    /proc counts a process's CPU in clock ticks (`tick_ms`, 10 ms on Linux): utime and stime are each
    truncated to a tick, so a window's CPU is off by less than 2 ticks. ``relay_over_floor_range`` is
    the ratio's range under that error ÷ N — wide for the small cells of ``--quick``."""
    rows: list[dict[str, Any]] = []
    for mode in ("ns", "stream"):
        for concurrency in sorted({c for t, m, c in cells if m == mode and t == "floor"}):
            floor, relay = cells.get(("floor", mode, concurrency)), cells.get(("relay", mode, concurrency))
            if floor is None or relay is None:
                continue
            floor_cpu = floor["costs"].get("floor_cpu_ms_per_request")
            relay_cpu = relay["costs"].get("relay_cpu_ms_per_request")
            ratio = _ratio(relay_cpu, floor_cpu)
            # Each round's window is off by up to 2 ticks of its own.
            floor_err = 2 * tick_ms * floor.get("rounds", 1) / floor["requests"]
            relay_err = 2 * tick_ms * relay.get("rounds", 1) / relay["requests"]
            span = ratio_range(relay_cpu, floor_cpu, relay_err, floor_err) if ratio is not None else None
            row: dict[str, Any] = {
                "mode": mode,
                "concurrency": concurrency,
                "requests": relay["requests"],
                "floor_cpu_ms_per_request": floor_cpu,
                "relay_cpu_ms_per_request": relay_cpu,
                "relay_over_floor": ratio,
                "relay_over_floor_range": list(span) if span else None,
                "cpu_resolution_ms_per_request": {"floor": floor_err, "relay": relay_err},
                "floor_throughput_per_s": floor["throughput_per_s"],
                "relay_throughput_per_s": relay["throughput_per_s"],
                # other work on the measured core while each cell ran (noise on a shared machine)
                "floor_core1_other": floor["costs"].get("core1_foreign_util"),
                "relay_core1_other": relay["costs"].get("core1_foreign_util"),
            }
            target = RATIO_TARGETS.get(mode)
            if concurrency == TARGET_CONCURRENCY and target is not None:
                row["target"] = target
                row["target_met"] = None if ratio is None else ratio <= target
            rows.append(row)
    return rows


def added_latency(cells: Cells) -> list[dict[str, Any]]:
    """At the lowest concurrency of the run: p50 of direct, floor and relay, and what the floor and the
    relay add over direct (p50 − p50 of separate runs, as every "added" figure of the benchmark).
    Non-streaming: the whole answer; streams: the first content token (TTFT) and the stream closed."""
    levels = sorted({c for t, _, c in cells if t == "floor"})
    if not levels:
        return []
    concurrency = levels[0]
    out: list[dict[str, Any]] = []
    for mode, metrics in (("ns", ("total_ms",)), ("stream", ("ttft_ms", "total_ms"))):
        direct = cells.get(("direct", mode, concurrency))
        floor = cells.get(("floor", mode, concurrency))
        relay = cells.get(("relay", mode, concurrency))
        if direct is None or floor is None or relay is None:
            continue
        for metric in metrics:
            d = direct["latency"][metric]["p50"]
            f = floor["latency"][metric]["p50"]
            r = relay["latency"][metric]["p50"]
            out.append(
                {
                    "mode": mode,
                    "concurrency": concurrency,
                    "metric": metric,
                    "direct_p50_ms": d,
                    "floor_p50_ms": f,
                    "relay_p50_ms": r,
                    "floor_added_p50_ms": f - d,
                    "relay_added_p50_ms": r - d,
                    "relay_minus_floor_p50_ms": r - f,
                }
            )
    return out


def compare(cells: Iterable[Mapping[str, Any]], tick_ms: float = 10.0) -> dict[str, Any]:
    """The results document's ``floor_comparison``: CPU rows and added latency (empty without floor cells)."""
    index = _index(cells)
    return {
        "targets": {"concurrency": TARGET_CONCURRENCY, "relay_over_floor_max": RATIO_TARGETS},
        "cpu_tick_ms": tick_ms,
        "cpu": cpu_rows(index, tick_ms),
        "added_latency": added_latency(index),
    }
