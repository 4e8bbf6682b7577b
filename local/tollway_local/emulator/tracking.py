"""Record which DynamoDB items moto wrote, so a snapshot re-reads only those.

moto changes items in exactly three places, whatever the API call (PutItem, BatchWriteItem,
TransactWriteItems, PartiQL): `Table.put_item`, `Table.delete_item`, and
`DynamoDBBackend.update_item` (which edits the stored item in place). `install()` wraps those three
methods once per process; while a `ChangeLog` is active each call records (table, hash key, range
key), whether it succeeded or not (a failed call wrote nothing, and re-reading its key is harmless).

A cancelled transaction puts its items back from the undo log (`transactions.py`; or, for shapes
the log does not handle, moto swaps in its copies of the whole tables); either way the keys it wrote
are in this log, so re-reading them gives the restored items.

All of this runs inside the emulator's request lock, as does `ChangeLog.drain()`; no other lock is
needed. moto is pinned (5.2.5) and the patched signatures are checked by the unit tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ChangeLog", "Drained", "ItemKey", "activate", "install"]

#: moto's own key objects: equality and hashing as in `Table.items` (numbers compare by value).
ItemKey = tuple[DynamoType, DynamoType | None]


@dataclass(slots=True)
class Drained:
    """What changed since the previous drain."""

    everything: bool
    tables: set[str]  # tables to rescan completely
    keys: dict[str, set[ItemKey]]  # table -> keys of items to re-read


@dataclass(slots=True)
class ChangeLog:
    """Changed DynamoDB keys since the last snapshot. Starts 'everything changed'."""

    _everything: bool = True
    _tables: set[str] = field(default_factory=set)
    _keys: dict[str, set[ItemKey]] = field(default_factory=dict)

    def touch(self, table: str, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        if not self._everything and table not in self._tables:
            self._keys.setdefault(table, set()).add((hash_key, range_key))

    def touch_table(self, table: str) -> None:
        self._tables.add(table)
        self._keys.pop(table, None)

    def touch_everything(self) -> None:
        self._everything = True
        self._tables.clear()
        self._keys.clear()

    def drain(self) -> Drained:
        drained = Drained(self._everything, self._tables, self._keys)
        self._everything, self._tables, self._keys = False, set(), {}
        return drained


_active: ChangeLog | None = None
_installed = False


def activate(log: ChangeLog | None) -> None:
    """Send moto's item writes to `log` (None: record nothing). The wrappers stay installed."""
    global _active  # one process-wide moto, one process-wide log
    _active = log


def _key_from(table: Table, attributes: Any) -> ItemKey | None:
    """The key moto derives from request attributes, or None if they have none (moto rejects those)."""
    try:
        hash_value = attributes[table.hash_key_attr]
        range_attr = table.range_key_attr
        range_key = DynamoType(attributes[range_attr]) if range_attr else None
        return DynamoType(hash_value), range_key
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


def _wrap_put(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, item_attrs, *args, **kwargs)
        finally:
            if _active is not None and (key := _key_from(self, item_attrs)) is not None:
                _active.touch(self.name, *key)

    return put_item


def _wrap_delete(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, hash_key, range_key, *args, **kwargs)
        finally:
            if _active is not None:
                _active.touch(self.name, hash_key, range_key)

    return delete_item


def _wrap_update(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_item(self: DynamoDBBackend, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, table_name, key, *args, **kwargs)
        finally:
            if _active is not None:
                _record_update(_active, self, table_name, key)

    return update_item


def _record_update(log: ChangeLog, backend: DynamoDBBackend, table_name: str, key: Any) -> None:
    try:
        table = backend.get_table(table_name)
    except Exception:  # no such table: moto raised before writing anything
        return
    item_key = _key_from(table, key)
    if item_key is None or (table.range_key_attr is not None and item_key[1] is None):
        log.touch_table(table.name)  # a key shape we cannot mirror: rescan the table
    else:
        log.touch(table.name, *item_key)


def install() -> None:
    """Wrap moto's three item-writing methods (once per process)."""
    global _installed
    if _installed:
        return
    Table.put_item = _wrap_put(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _wrap_delete(Table.delete_item)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _wrap_update(DynamoDBBackend.update_item)  # type: ignore[method-assign]
    _installed = True
