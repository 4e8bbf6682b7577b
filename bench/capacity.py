"""DynamoDB item sizes and capacity units, by DynamoDB's published rules (pure functions).

Item size (developer guide, "DynamoDB item sizes and formats"): the sum over attributes of the
UTF-8 length of the name plus the size of the value, where

- String: UTF-8 bytes; Binary: raw bytes (not base64); Boolean and Null: 1 byte;
- Number: 1 byte per two significant digits (leading and trailing zeros trimmed) + 1 byte;
- String/Number/Binary set: the sum of its elements;
- List or Map: 3 bytes + for each element 1 byte + its size (a Map element also counts its key).

Write units: 1 per started KB (1,024 bytes) of the item, at least 1. PutItem and UpdateItem count the
larger of the item before and after; DeleteItem the deleted item. In TransactWriteItems every action
costs twice that, ConditionCheck included (it is charged as a transactional write of the checked
item). Each global secondary index costs writes of its own (standard, not doubled: assumption, see
docs/benchmark.md): an item entering or leaving the index 1 write, a change of the index key 2 (delete
+ put), a change of a projected attribute only 1; each of those sized by the projected item.

Read units: 1 per started 4 KB for a strongly consistent read, half that eventually consistent.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IndexSchema",
    "TableSchema",
    "WriteCost",
    "item_size",
    "number_size",
    "read_units",
    "total_units",
    "value_size",
    "write_cost",
    "write_units",
]

Item = Mapping[str, Any]
KB = 1024


def number_size(text: str) -> int:
    """Bytes of a Number value: ceil(significant digits / 2) + 1 (at least one digit)."""
    mantissa = text.strip().lstrip("+-").lower().split("e", 1)[0]
    # DynamoDB trims leading and trailing zeros (so 1000000 is one significant digit)
    digits = mantissa.replace(".", "").strip("0")
    significant = max(1, len(digits))
    return (significant + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    return len(base64.b64decode(str(value)))


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB JSON (`{"S": "x"}`, `{"M": {...}}`, ...), without its name."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type: {value!r}")
    ((kind, inner),) = value.items()
    match kind:
        case "S":
            return len(str(inner).encode())
        case "N":
            return number_size(str(inner))
        case "B":
            return _binary_size(inner)
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(len(str(s).encode()) for s in inner)
        case "NS":
            return sum(number_size(str(n)) for n in inner)
        case "BS":
            return sum(_binary_size(b) for b in inner)
        case "L":
            return 3 + sum(1 + value_size(element) for element in inner)
        case "M":
            return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item (attribute names + values); 0 for no item."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Standard write units for an item of `size` bytes: 1 per started KB, at least 1."""
    return max(1, math.ceil(size / KB))


def read_units(size: int, *, consistent: bool) -> float:
    """Read units for `size` bytes read: 1 per started 4 KB (strongly consistent), half otherwise."""
    units = max(1, math.ceil(size / (4 * KB)))
    return float(units) if consistent else units / 2


@dataclass(frozen=True, slots=True)
class IndexSchema:
    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TableSchema:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[IndexSchema, ...] = ()

    @classmethod
    def from_describe(cls, table: Mapping[str, Any]) -> TableSchema:
        """From DescribeTable's `Table` (global secondary indexes only; local ones are not used here)."""
        indexes = tuple(
            IndexSchema(
                name=gsi["IndexName"],
                keys=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                projection=gsi.get("Projection", {}).get("ProjectionType", "ALL"),
                non_key=tuple(gsi.get("Projection", {}).get("NonKeyAttributes", ())),
            )
            for gsi in table.get("GlobalSecondaryIndexes", ())
        )
        return cls(name=table["TableName"], keys=tuple(k["AttributeName"] for k in table["KeySchema"]), indexes=indexes)

    def key_of(self, item: Item) -> dict[str, Any]:
        return {name: item[name] for name in self.keys if name in item}

    def projected(self, item: Item, index: IndexSchema) -> dict[str, Any]:
        """The attributes of `item` that `index` stores."""
        if index.projection == "ALL":
            return dict(item)
        names = set(self.keys) | set(index.keys)
        if index.projection == "INCLUDE":
            names |= set(index.non_key)
        return {k: v for k, v in item.items() if k in names}


@dataclass(slots=True)
class WriteCost:
    """What one write action costs. `units` = table units (doubled in a transaction) + index units."""

    table: str
    action: str  # put | update | delete | check
    transactional: bool
    item_bytes: int  # the size the table units are based on
    table_units: int
    index_writes: int = 0
    index_units: int = 0
    index_detail: dict[str, int] = field(default_factory=dict)  # index name -> units

    @property
    def units(self) -> int:
        return self.table_units + self.index_units


def _index_writes(schema: TableSchema, before: Item | None, after: Item | None) -> list[tuple[str, int]]:
    """(index name, units) for every index write this change causes."""
    out: list[tuple[str, int]] = []
    for index in schema.indexes:
        old = schema.projected(before, index) if before and all(k in before for k in index.keys) else None
        new = schema.projected(after, index) if after and all(k in after for k in index.keys) else None
        if old is not None and new is not None:
            if any(old[k] != new[k] for k in index.keys):
                out += [(index.name, write_units(item_size(old))), (index.name, write_units(item_size(new)))]
            elif old != new:
                out.append((index.name, write_units(max(item_size(old), item_size(new)))))
        elif new is not None:
            out.append((index.name, write_units(item_size(new))))
        elif old is not None:
            out.append((index.name, write_units(item_size(old))))
    return out


def write_cost(
    schema: TableSchema, action: str, before: Item | None, after: Item | None, *, transactional: bool
) -> WriteCost:
    """Units of one write action, from the item before and after it (None: no item)."""
    if action == "check":
        size = item_size(before)
        return WriteCost(schema.name, action, transactional, size, 2 * write_units(size))
    if action == "delete":
        size = item_size(before)
        after = None
    elif action in ("put", "update"):
        size = max(item_size(before), item_size(after))
    else:
        raise ValueError(f"unknown write action {action!r}")
    table_units = write_units(size) * (2 if transactional else 1)
    index = _index_writes(schema, before, after)
    detail: dict[str, int] = {}
    for name, units in index:
        detail[name] = detail.get(name, 0) + units
    return WriteCost(
        schema.name,
        action,
        transactional,
        size,
        table_units,
        index_writes=len(index),
        index_units=sum(u for _, u in index),
        index_detail=detail,
    )


def total_units(costs: Sequence[WriteCost]) -> int:
    return sum(c.units for c in costs)
