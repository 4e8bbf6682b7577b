"""moto's item size limit checked in one pass when an item is built, instead of once per attribute.

moto 5.2.5 stores an item's attributes in a `LimitedSizeDict`, whose `__setitem__` re-measures every
attribute already in the dict before it adds one (DynamoDB's 400 KB item limit, enforced as
`ItemSizeTooLarge` above 405,000 bytes). Building an item of n attributes (`Item.__init__`, on every
Put and every read of a request's Item) therefore measures O(n²) attributes; for the relay's usage
record (≈20 attributes) that was about a tenth of the emulator's CPU.

`install()` replaces `Item.__init__` with the same loop keeping a running total: each attribute is
converted (`DynamoType(value)`) and measured once, in the same order, with the same sizes moto adds up
(`bytesize(key) + value.size()` for the new one, `bytesize(str(key)) + value.size()` for those already
in), and `ItemSizeTooLarge` is raised at the same attribute moto would raise it at: the attributes are
distinct keys of one dict and nothing else changes the dict while it is being built, so moto's
re-measured sum equals the running total. The result is the same `Item` with the same
`LimitedSizeDict` (later assignments, e.g. by UpdateExpressions, still go through moto's own checked
`__setitem__`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LIMIT", "install", "installed", "uninstall"]

LIMIT = 405_000  # moto's LimitedSizeDict limit (bytes)

_original: Callable[..., None] | None = None


def _init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    self.hash_key = hash_key
    self.range_key = range_key
    limited = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size = typed.size()
        if total + bytesize(key) + size > LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(limited, key, typed)
        total += bytesize(str(key)) + size
    self.attrs = limited


def install() -> None:
    """Build items with one size pass (once per process; `uninstall()` reverts)."""
    global _original
    if _original is not None:
        return
    _original = Item.__init__
    Item.__init__ = _init  # type: ignore[method-assign]


def uninstall() -> None:
    global _original
    if _original is None:
        return
    Item.__init__ = _original  # type: ignore[method-assign]
    _original = None


def installed() -> bool:
    return _original is not None
