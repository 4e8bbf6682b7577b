"""TransactWriteItems with an undo log of the items it names, instead of copies of whole tables.

moto 5.2.5's `DynamoDBBackend.transact_write_items` starts by deep-copying every table the
transaction names, so it can swap the copies back in if an item fails. That makes a 3-item
transaction cost O(rows in the touched tables): a transaction that puts a usage record pays for a
copy of every usage record ever written. DynamoDB's cost does not grow with the table, and the
emulator's should not either, or local figures would punish the one call that makes money safe.

`install()` keeps moto's own code for everything a transaction means (conditions,
`ReturnValuesOnConditionCheckFailure`, `CancellationReasons`, which errors cancel and which
reraise, the order items are applied in) and changes only how it gets back to where it started:

1. Before moto runs, the wrapper saves each named item as it is: the stored `Item` object (Put,
   Delete and ConditionCheck replace or leave it, never change it) or a deep copy of it (Update edits
   the stored object in place), and, on a table with a sort key, whether its partition existed
   (moto's reads create an empty one).
2. While it runs, moto's "deep copy of the table" is the table itself (moto's `copy` is replaced, in
   that one module, by a stand-in that does this only inside the wrapper and only for a `Table`), so
   moto's own rollback swaps each table for itself: a no-op.
3. If moto raises (`TransactionCanceledException`, or the validation errors it reraises after items
   were already applied), the wrapper puts every saved item back, in reverse order. On success the
   log is dropped.

So the cost is O(items in the transaction). Transactions whose shape the log cannot mirror run
moto's original code unchanged (with its copies): a named table with a DynamoDB stream (moto keeps
stream records and may hand them to Lambda), an item that is not exactly one operation, a key that
cannot be read from the request. tollway sends none of those; they are also the malformed requests
moto rejects anyway.

Like the rest of the emulator this runs one request at a time (the request lock in `wsgi.py`);
nothing here is thread safe on its own. `tracking.py` (the snapshot's change log) sees the forward
writes through moto's item methods; the undo touches only keys those writes already recorded, so
the next snapshot re-reads them and finds them restored.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["counts", "install", "installed", "uninstall"]

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


@dataclass(slots=True)
class _Saved:
    """One named item as it was before the transaction."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    partition_existed: bool  # tables with a sort key: was there a dict for hash_key
    item: Item | None

    def restore(self) -> None:
        items: Any = self.table.items
        if self.range_key is None:
            if self.item is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.item
            return
        if self.item is not None:
            items[self.hash_key][self.range_key] = self.item  # a defaultdict: recreates the partition
            return
        partition = items.get(self.hash_key)
        if partition is None:
            return
        partition.pop(self.range_key, None)
        if not partition and not self.partition_existed:
            del items[self.hash_key]  # the empty partition a read created: moto's copy never had it


class _CopyStandIn(ModuleType):
    """`copy` as moto's DynamoDB models module sees it: a `Table` is its own copy inside the wrapper."""

    def __init__(self) -> None:
        super().__init__("copy")
        self.guarding = False
        self.tables_copied = 0  # whole tables moto really copied (its own path, kept for odd shapes)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table):
            if self.guarding:
                return value
            self.tables_copied += 1
        return copy.deepcopy(value, memo)


_stand_in = _CopyStandIn()
_original: Callable[..., None] | None = None
_counts = {"undo_log": 0, "copied": 0}  # transactions by path, since the process started


def _key_of(table: Table, attributes: Any) -> tuple[DynamoType, DynamoType | None] | None:
    """The key moto reads from a request's Key (or a Put's Item); None if the request has none."""
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    range_attr = table.range_key_attr
    if range_attr is not None and range_attr not in attributes:
        return None
    try:
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = DynamoType(attributes[range_attr]) if range_attr is not None else None
    except (TypeError, ValueError, AttributeError, IndexError):
        return None
    return hash_key, range_key


def _save(backend: DynamoDBBackend, transact_items: Any) -> list[_Saved] | None:
    """The undo log for `transact_items`, or None when only moto's own table copies can undo it."""
    if not isinstance(transact_items, list):
        return None
    saved: list[_Saved] = []
    seen: set[tuple[str, DynamoType, DynamoType | None]] = set()
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        ((operation, request),) = entry.items()
        if operation not in _OPERATIONS or not isinstance(request, dict):
            return None
        table = backend.tables.get(request.get("TableName"))  # type: ignore[arg-type]
        if table is None:
            continue  # moto answers ResourceNotFound for this item and writes nothing
        if table.stream_shard is not None:
            return None
        key = _key_of(table, request.get("Item") if operation == "Put" else request.get("Key"))
        if key is None:
            return None
        hash_key, range_key = key
        if (table.name, hash_key, range_key) in seen:
            continue  # moto refuses the repeat before it writes it; the first save holds the old state
        seen.add((table.name, hash_key, range_key))
        items: Any = table.items
        if range_key is None:
            partition_existed, item = True, items.get(hash_key)
        else:
            partition = items.get(hash_key)
            partition_existed = partition is not None
            item = partition.get(range_key) if partition is not None else None
        if item is not None and operation == "Update":
            item = copy.deepcopy(item)
        saved.append(_Saved(table, hash_key, range_key, partition_existed, item))
    return saved


def _wrap(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def transact_write_items(
        self: DynamoDBBackend, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> None:
        saved = _save(self, transact_items)
        if saved is None or _stand_in.guarding:
            _counts["copied"] += 1
            original(self, transact_items, *args, **kwargs)
            return
        _counts["undo_log"] += 1
        _stand_in.guarding = True
        try:
            original(self, transact_items, *args, **kwargs)
        except BaseException:
            for entry in reversed(saved):
                entry.restore()
            raise
        finally:
            _stand_in.guarding = False

    return transact_write_items


def install() -> None:
    """Give moto's TransactWriteItems the undo log (once per process; `uninstall()` reverts)."""
    global _original
    if _original is not None:
        return
    _original = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _stand_in  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = _wrap(_original)  # type: ignore[method-assign]


def uninstall() -> None:
    """Put moto's own TransactWriteItems (and `copy`) back."""
    global _original
    if _original is None:
        return
    DynamoDBBackend.transact_write_items = _original  # type: ignore[method-assign]
    dynamodb_models.copy = copy  # type: ignore[attr-defined]
    _original = None


def installed() -> bool:
    return _original is not None


def counts() -> dict[str, int]:
    """Transactions run with the undo log and with moto's copies, and whole tables copied."""
    return {**_counts, "tables_copied": _stand_in.tables_copied}
