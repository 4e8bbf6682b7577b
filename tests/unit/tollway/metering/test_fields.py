"""The field readers every usage parser uses: any odd shape counts as none, never an exception; and the
price helper the fixed holds use."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tollway.metering.fields import count, dicts, obj
from tollway.metering.prices import dearest


@pytest.mark.parametrize(("value", "expected"), [(7, 7), (0, 0), (-3, 0), (True, 0), (2.5, 0), ("9", 0), (None, 0)])
def test_a_count_is_a_positive_int_or_zero(value: Any, expected: int) -> None:
    assert count(value) == expected


def test_objects_and_lists_of_objects_take_any_shape() -> None:
    assert obj({"a": 1}) == {"a": 1} and obj([1]) == {} and obj(None) == {}
    assert dicts([{"a": 1}, "x", None, [2], {}]) == [{"a": 1}, {}]
    assert dicts({"a": 1}) == [] and dicts("text") == []


def test_the_dearest_price_ignores_unset_ones() -> None:
    assert dearest(Decimal("0.5"), None, Decimal(2)) == Decimal(2)
    assert dearest(None, None) == dearest() == Decimal(0)
