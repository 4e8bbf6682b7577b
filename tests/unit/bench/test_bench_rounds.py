"""bench.rounds: the floor's and the relay's cells measured in alternating rounds, merged into one."""

from __future__ import annotations

import math

import pytest

from bench.floor import cpu_rows
from bench.rounds import merge_costs, merge_rounds, split


def test_split_spreads_the_requests_evenly() -> None:
    assert split(1500, 3) == [500, 500, 500]
    assert split(10, 3) == [4, 3, 3]
    assert split(2, 5) == [1, 1]  # never an empty round
    assert split(7, 1) == [7]
    assert sum(split(1601, 4)) == 1601


def test_costs_per_request_weigh_by_requests_and_utilisations_by_window() -> None:
    merged = merge_costs(
        [
            {"window_s": 1.0, "relay_cpu_ms_per_request": 2.0, "core1_util": 0.5, "note": "a"},
            {"window_s": 3.0, "relay_cpu_ms_per_request": 4.0, "core1_util": 0.1, "note": "b"},
        ],
        [100, 300],
    )
    assert merged["window_s"] == 4.0
    assert merged["relay_cpu_ms_per_request"] == pytest.approx((2.0 * 100 + 4.0 * 300) / 400)
    assert merged["core1_util"] == pytest.approx((0.5 * 1 + 0.1 * 3) / 4)
    assert merged["note"] == "b"


def test_a_cost_missing_in_a_round_is_weighed_over_the_rounds_that_have_it() -> None:
    merged = merge_costs(
        [{"window_s": 1.0, "emulator_cpu_ms_per_request": None}, {"window_s": 1.0, "emulator_cpu_ms_per_request": 3.0}],
        [10, 10],
    )
    assert merged["emulator_cpu_ms_per_request"] == 3.0
    assert merge_costs([{"window_s": 1.0, "x_per_request": None}], [5])["x_per_request"] is None


def _cell(requests: int, per_s: float, cpu: float, errors: int = 0) -> dict[str, object]:
    return {
        "target": "relay",
        "mode": "ns",
        "concurrency": 16,
        "requests": requests,
        "errors": errors,
        "error_examples": [f"e{i}" for i in range(errors)],
        "throughput_per_s": per_s,
        "response_bytes_mean": 100.0,
        "latency": {"total_ms": {"p50": 1.0}},
        "costs": {"window_s": requests / per_s, "relay_cpu_ms_per_request": cpu},
    }


def test_rounds_merge_into_one_cell() -> None:
    latency = {"total_ms": {"p50": 9.0}}
    merged = merge_rounds([_cell(100, 100.0, 2.0, errors=2), _cell(300, 300.0, 3.0, errors=2)], latency)
    assert merged["requests"] == 400
    assert merged["rounds"] == 2
    assert merged["errors"] == 4
    assert merged["error_examples"] == ["e0", "e1", "e0"]  # at most three, as a single cell keeps
    assert merged["throughput_per_s"] == pytest.approx(400 / 2.0)  # 1 s + 1 s of load
    assert merged["costs"]["relay_cpu_ms_per_request"] == pytest.approx(2.75)
    assert merged["latency"] is latency
    with pytest.raises(ValueError, match="no rounds"):
        merge_rounds([], latency)


def test_the_ratio_range_widens_with_the_rounds() -> None:
    """Each round's CPU window is off by up to 2 clock ticks, so R rounds are off by up to 2R."""

    def cells(rounds: int) -> dict[tuple[str, str, int], dict[str, object]]:
        floor = {
            "requests": 1000,
            "rounds": rounds,
            "throughput_per_s": 500.0,
            "costs": {"floor_cpu_ms_per_request": 1.0},
        }
        relay = {
            "requests": 1000,
            "rounds": rounds,
            "throughput_per_s": 200.0,
            "costs": {"relay_cpu_ms_per_request": 2.0},
        }
        return {("floor", "ns", 16): floor, ("relay", "ns", 16): relay}

    one, three = cpu_rows(cells(1))[0], cpu_rows(cells(3))[0]
    assert one["cpu_resolution_ms_per_request"] == {"floor": 0.02, "relay": 0.02}
    assert three["cpu_resolution_ms_per_request"] == {"floor": pytest.approx(0.06), "relay": pytest.approx(0.06)}
    assert three["relay_over_floor_range"][0] < one["relay_over_floor_range"][0]
    assert not math.isnan(three["relay_over_floor"])
