"""The relay against the floor (bench/floor.py), the floor cells' cost names and their table."""

from __future__ import annotations

from typing import Any

import pytest

from bench.__main__ import _parser
from bench.floor import RATIO_TARGETS, TARGET_CONCURRENCY, added_latency, compare, cpu_rows, ratio_range
from bench.report import render
from bench.runner import floor_costs


def _cell(target: str, mode: str, c: int, cpu: float | None = None, **p50: float) -> dict[str, Any]:
    costs: dict[str, Any] = {"core1_foreign_util": 0.01}
    if cpu is not None:
        costs[f"{target}_cpu_ms_per_request"] = cpu
    latency = {metric: {"p50": value, "p99": value + 1} for metric, value in p50.items()}
    return {
        "target": target,
        "mode": mode,
        "concurrency": c,
        "requests": 10 * c,
        "throughput_per_s": 50.0,
        "latency": latency,
        "costs": costs,
    }


CELLS = [
    _cell("direct", "ns", 1, total_ms=21.0),
    _cell("floor", "ns", 1, 2.0, total_ms=23.0),
    _cell("relay", "ns", 1, 6.0, total_ms=39.0),
    _cell("direct", "ns", 16, total_ms=25.0),
    _cell("floor", "ns", 16, 1.5, total_ms=27.0),
    _cell("relay", "ns", 16, 4.5, total_ms=60.0),
    _cell("direct", "stream", 1, ttft_ms=21.5, total_ms=216.0),
    _cell("floor", "stream", 1, 12.0, ttft_ms=23.0, total_ms=218.0),
    _cell("relay", "stream", 1, 15.0, ttft_ms=28.0, total_ms=236.0),
    _cell("direct", "stream", 16, ttft_ms=22.0, total_ms=220.0),
    _cell("floor", "stream", 16, 6.0, ttft_ms=24.0, total_ms=222.0),
    _cell("relay", "stream", 16, 8.4, ttft_ms=45.0, total_ms=300.0),
]


def _index(cells: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(c["target"], c["mode"], c["concurrency"]): c for c in cells}


def test_cpu_rows_divide_relay_by_floor_per_mode_and_concurrency() -> None:
    rows = {(r["mode"], r["concurrency"]): r for r in cpu_rows(_index(CELLS))}
    assert set(rows) == {("ns", 1), ("ns", 16), ("stream", 1), ("stream", 16)}
    assert rows[("ns", 1)]["relay_over_floor"] == pytest.approx(3.0)
    assert rows[("ns", 16)]["floor_cpu_ms_per_request"] == 1.5
    assert rows[("ns", 16)]["relay_cpu_ms_per_request"] == 4.5
    assert rows[("ns", 16)]["relay_over_floor"] == pytest.approx(3.0)
    assert rows[("stream", 16)]["relay_over_floor"] == pytest.approx(1.4)


def test_the_target_is_judged_at_its_concurrency_only() -> None:
    rows = {(r["mode"], r["concurrency"]): r for r in cpu_rows(_index(CELLS))}
    assert TARGET_CONCURRENCY == 16
    assert rows[("ns", 16)]["target"] == RATIO_TARGETS["ns"] == 2.0
    assert rows[("ns", 16)]["target_met"] is False  # 3.0× > 2×
    assert rows[("stream", 16)]["target"] == RATIO_TARGETS["stream"] == 1.5
    assert rows[("stream", 16)]["target_met"] is True  # 1.4× ≤ 1.5×
    assert "target" not in rows[("ns", 1)]


def test_a_mode_without_both_cells_or_without_floor_cpu_gives_no_ratio() -> None:
    cells = [_cell("floor", "ns", 16, 0.0), _cell("relay", "ns", 16, 4.0), _cell("floor", "stream", 16, 6.0)]
    rows = cpu_rows(_index(cells))
    assert [(r["mode"], r["relay_over_floor"], r["target_met"]) for r in rows] == [("ns", None, None)]
    assert cpu_rows(_index([c for c in CELLS if c["target"] != "floor"])) == []


def test_added_latency_at_the_lowest_concurrency() -> None:
    rows = added_latency(_index(CELLS))
    assert [(r["mode"], r["metric"], r["concurrency"]) for r in rows] == [
        ("ns", "total_ms", 1),
        ("stream", "ttft_ms", 1),
        ("stream", "total_ms", 1),
    ]
    ns = rows[0]
    assert ns["floor_added_p50_ms"] == pytest.approx(2.0)
    assert ns["relay_added_p50_ms"] == pytest.approx(18.0)
    assert ns["relay_minus_floor_p50_ms"] == pytest.approx(16.0)
    assert rows[1]["relay_added_p50_ms"] == pytest.approx(6.5)
    assert added_latency(_index([c for c in CELLS if c["target"] != "floor"])) == []


def test_compare_names_the_targets() -> None:
    out = compare(CELLS)
    assert out["targets"] == {"concurrency": 16, "relay_over_floor_max": {"ns": 2.0, "stream": 1.5}}
    assert len(out["cpu"]) == 4
    assert len(out["added_latency"]) == 3


def test_floor_costs_rename_only_the_measured_process_figures() -> None:
    costs = {"relay_cpu_ms_per_request": 1.2, "relay_core_util": 0.4, "core1_foreign_util": 0.0, "window_s": 2.0}
    assert floor_costs(costs) == {
        "floor_cpu_ms_per_request": 1.2,
        "floor_core_util": 0.4,
        "core1_foreign_util": 0.0,
        "window_s": 2.0,
    }


def test_render_prints_the_floor_table_and_added_latency() -> None:
    text = render({"floor_comparison": compare(CELLS)})
    assert "Relay against the passthrough floor" in text
    assert "3.00× (" in text
    assert "≤ 2× NOT met" in text
    assert "≤ 1.5× met" in text
    assert "added p50 at C=1, non-stream answer: floor +2.0 ms, relay +18.0 ms" in text
    assert "Relay against the passthrough floor" not in render({"floor_comparison": compare([])})


def test_no_floor_flag() -> None:
    assert _parser().parse_args(["--no-floor"]).no_floor is True
    assert _parser().parse_args([]).no_floor is False


def test_ratio_range_widens_with_the_tick_error() -> None:
    low, high = ratio_range(8.0, 1.0, 0.2, 0.2)
    assert low == pytest.approx(7.8 / 1.2)
    assert high == pytest.approx(8.2 / 0.8)
    assert ratio_range(8.0, 1.0, 0.0, 0.0) == (8.0, 8.0)
    assert ratio_range(8.0, 0.1, 0.2, 0.2)[1] is None  # the floor's figure could be 0: no upper bound
    assert ratio_range(0.1, 1.0, 0.2, 0.2)[0] == 0.0


def test_cpu_rows_give_the_resolution_of_each_figure() -> None:
    rows = {(r["mode"], r["concurrency"]): r for r in cpu_rows(_index(CELLS), tick_ms=10.0)}
    row = rows[("ns", 16)]  # N = 160 for both: 2 ticks / 160 = 0.125 ms per request
    assert row["cpu_resolution_ms_per_request"] == {"floor": 0.125, "relay": 0.125}
    assert row["relay_over_floor_range"] == pytest.approx([4.375 / 1.625, 4.625 / 1.375])
    assert compare(CELLS, tick_ms=1.0)["cpu_tick_ms"] == 1.0
