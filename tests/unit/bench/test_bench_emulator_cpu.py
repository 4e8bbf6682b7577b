"""`bench.emulator_cpu`'s pure parts: the turns the two emulators take, the CPU arithmetic, the report
and the argument checks (the measurement itself starts emulators: `python -m bench.emulator_cpu`)."""

from __future__ import annotations

import pytest

from bench.emulator_cpu import ModeResult, blocks, cpu_seconds, main, per_request_ms, report


def test_the_modes_take_turns_and_each_gets_every_request_once_in_order() -> None:
    turns = blocks(25, 10, ["fast", "moto"])
    assert [(mode, span.start, span.stop) for mode, span in turns] == [
        ("fast", 0, 10),
        ("moto", 0, 10),
        ("fast", 10, 20),
        ("moto", 10, 20),
        ("fast", 20, 25),
        ("moto", 20, 25),
    ]
    for mode in ("fast", "moto"):
        assert [n for m, span in turns if m == mode for n in span] == list(range(25))
    with pytest.raises(ValueError, match="block"):
        blocks(10, 0, ["fast"])


def test_cpu_is_user_plus_system_per_request() -> None:
    before = {"cpu_user_s": 1.0, "cpu_system_s": 0.5}
    after = {"cpu_user_s": 1.9, "cpu_system_s": 0.6}
    assert cpu_seconds(after) == pytest.approx(2.5)
    assert per_request_ms(before, after, 100) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="positive"):
        per_request_ms(before, after, 0)


def test_the_report_compares_the_modes_and_says_whether_the_answers_agree() -> None:
    fast = ModeResult("fast", 300, 600, 3.0, 1.5, 990, 340)
    moto = ModeResult("moto", 300, 600, 6.0, 3.0, 990, 340)
    text = report([fast, moto])
    assert "fast / moto CPU per request: 0.50" in text
    assert "same answers: yes" in text
    assert "same answers: NO" in report([fast, ModeResult("moto", 300, 600, 6.0, 3.0, 991, 340)])


@pytest.mark.parametrize(
    "argv",
    [["--modes", "fast,nope"], ["--modes", "fast,fast"], ["--requests", "0"], ["--block", "0"], ["--concurrency", "0"]],
)
def test_bad_arguments_are_refused_before_anything_starts(argv: list[str]) -> None:
    assert main(argv) == 2
