from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.money import MoneyError, ceil_micros, floor_div, format_usd, parse_usd, usd_to_micros


@pytest.mark.parametrize(
    ("text", "micros"), [("0.20", 200_000), ("1", 1_000_000), ("0.000001", 1), ("12.5", 12_500_000)]
)
def test_usd_strings_convert_exactly(text: str, micros: int) -> None:
    assert usd_to_micros(text) == micros


@pytest.mark.parametrize("text", ["0.0000001", "-1", "abc", "NaN", "Infinity", ""])
def test_inexact_negative_or_garbage_amounts_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_usd(text)


def test_negative_allowed_only_when_asked() -> None:
    assert usd_to_micros("-0.5", allow_negative=True) == -500_000


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (200_000, "0.20"),
        (1, "0.000001"),
        (125, "0.000125"),
        (0, "0.00"),
        (-1_500_000, "-1.50"),
        (12_345_678, "12.345678"),
    ],
)
def test_format_usd(micros: int, text: str) -> None:
    assert format_usd(micros) == text


def test_ceil_micros_rounds_up_once_and_exact_values_stay() -> None:
    assert ceil_micros(Decimal("0.0000010000001")) == 2
    assert ceil_micros(Decimal("0.000001")) == 1
    assert ceil_micros(Decimal("0")) == 0


def test_floor_div() -> None:
    assert floor_div(Decimal(10), Decimal(3)) == 3
    with pytest.raises(MoneyError):
        floor_div(Decimal(1), Decimal(0))
