"""tollway.tasks.reads.parse_ids — the ids of a list-by-ids body, as Midjourney and Suno clients send them."""

from __future__ import annotations

from typing import Any

import pytest
from tollway.tasks.reads import parse_ids


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (["1", " 2 ", 3], ["1", "2", "3"]),
        ([], []),
        (["a", "a"], ["a", "a"]),  # duplicates are the caller's business (Suno drops them, MJ keeps them)
    ],
)
def test_strings_and_numbers_are_ids(raw: list[Any], ids: list[str]) -> None:
    assert parse_ids(raw) == ids


@pytest.mark.parametrize("raw", [None, "1", {"ids": ["1"]}, [True], ["1", None], [1.5]])
def test_anything_else_is_not_a_list_of_ids(raw: Any) -> None:
    assert parse_ids(raw) is None
