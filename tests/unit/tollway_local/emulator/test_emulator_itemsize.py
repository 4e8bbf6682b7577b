"""Items built with one size pass (`itemsize.py`) against moto's own `Item.__init__`.

Each case builds the same item both ways: the attributes (values, types, order) must be the same, or
the same error must be raised. The limit is probed on both sides of moto's 405,000 bytes, with the
attribute that crosses it early, last, and followed by a malformed one (moto stops at the crossing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from tollway_local.emulator import itemsize

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = {"S": "k"}


@pytest.fixture(autouse=True)
def _moto_as_shipped() -> Iterator[None]:
    itemsize.uninstall()
    yield
    itemsize.uninstall()


def _cases() -> list[dict[str, Any]]:
    near = itemsize.LIMIT - len("id") - len("k") - len("big")  # "id": "k", then "big": near chars fills it
    return [
        {"id": KEY},
        {"id": KEY, "n": {"N": "12.50"}, "b": {"BOOL": True}, "z": {"NULL": True}, "bin": {"B": b"\x00\x01"}},
        {"id": KEY, "m": {"M": {"a": {"S": "x"}, "l": {"L": [{"N": "1"}, {"SS": ["p", "q"]}]}}}, "ns": {"NS": ["1"]}},
        {"id": KEY, "ü": {"S": "ß" * 10}},  # sizes are UTF-8 bytes
        {"id": KEY, "big": {"S": "x" * near}},  # exactly at the limit: allowed
        {"id": KEY, "big": {"S": "x" * (near + 1)}},  # one byte over
        {"big": {"S": "x" * 405_001}, "id": KEY},  # over at the first attribute
        {"id": KEY, "big": {"S": "x" * (near + 1)}, "bad": {"S": 5}},  # over, then a malformed value
        {"id": KEY, "bad": {"S": 5}},  # a malformed value (moto fails measuring it)
        {"id": KEY, "bad": {}},  # no type at all
        {"id": KEY, **{f"a{n}": {"S": "y" * 1_000} for n in range(400)}},  # many attributes, just under
        {"id": KEY, **{f"a{n}": {"S": "y" * 1_000} for n in range(406)}},  # many attributes, just over
    ]


def _build(attrs: dict[str, Any]) -> Any:
    try:
        item = Item(DynamoType(KEY), None, attrs)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    assert type(item.attrs) is LimitedSizeDict
    return ("item", [(k, v.type, repr(v.value)) for k, v in item.attrs.items()], item.size())


def test_every_item_is_built_as_moto_builds_it() -> None:
    shipped = [_build(case) for case in _cases()]
    itemsize.install()
    patched = [_build(case) for case in _cases()]
    for index, (expected, got) in enumerate(zip(shipped, patched, strict=True)):
        assert got == expected, index


def test_the_cases_cover_what_they_claim() -> None:
    itemsize.install()
    outcomes = [_build(case)[0:2] for case in _cases()]
    assert [o[0] for o in outcomes] == ["item"] * 5 + ["error"] * 5 + ["item", "error"]
    assert {o[1] for o in outcomes[5:8]} | {outcomes[11][1]} == {"ItemSizeTooLarge"}
    assert outcomes[8][1] == "AttributeError" and outcomes[9][1] == "IndexError"


def test_later_assignments_still_check_the_limit() -> None:
    itemsize.install()
    item = Item(DynamoType(KEY), None, {"id": KEY})
    with pytest.raises(Exception, match="Item size has exceeded"):
        item.attrs["big"] = DynamoType({"S": "x" * 405_001})


def test_uninstall_puts_moto_back() -> None:
    original = Item.__init__
    itemsize.install()
    itemsize.install()
    assert Item.__init__ is not original and itemsize.installed()
    itemsize.uninstall()
    assert Item.__init__ is original and not itemsize.installed()
