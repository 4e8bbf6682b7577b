"""moto's DynamoDB items <-> typed DynamoDB JSON (`{"attr": {"S": "x"}, "n": {"N": "1"}}`).

Both directions are hand-rolled for speed: moto's own `Item(...)` validates sizes on every attribute
(O(n^2) per item, ~90 us for a 12-attribute item) and `Item.to_json` goes through a deserializer for
nested values. These produce and accept exactly the wire format of the DynamoDB API, so a snapshot
file can be read (and fed to boto3) without moto.

`encode_attrs` builds fresh containers; scalar values are immutable strings/bools, so the result can
be JSON-encoded outside the request lock while moto keeps mutating its items.
"""

from __future__ import annotations

import base64
from typing import Any, cast

from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

__all__ = ["decode_item", "decode_value", "encode_attrs", "encode_value"]

_SCALARS = frozenset({"S", "N", "BOOL", "NULL"})
_SETS = frozenset({"SS", "NS", "BS"})


def _binary(value: Any) -> Any:
    # moto's request parser turns every B value into bytes; base64 text here is for the file only.
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes | bytearray) else value


def encode_value(value: Any) -> dict[str, Any]:
    """One moto `DynamoType` as typed JSON."""
    if not isinstance(value, DynamoType):
        return dict(value)  # already typed JSON (moto sometimes keeps raw dicts inside lists)
    kind = value.type
    raw = value.value
    if kind in _SCALARS:
        return {kind: raw}
    if kind == "M":
        return {"M": {name: encode_value(item) for name, item in raw.items()}}
    if kind == "L":
        return {"L": [encode_value(item) for item in raw]}
    if kind == "B":
        return {"B": _binary(raw)}
    if kind in _SETS:
        return {kind: [_binary(item) for item in raw]}
    return {kind: raw}


def encode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes (`Item.attrs`) as typed JSON, sharing no mutable container with moto."""
    encoded: dict[str, Any] = {}
    for name, value in attrs.items():
        kind = value.type
        encoded[name] = {kind: value.value} if kind in _SCALARS else encode_value(value)
    return encoded


_new_type = DynamoType.__new__


def decode_value(typed: dict[str, Any]) -> Any:
    """Typed JSON -> `DynamoType` as moto's request parser builds it (B values as bytes), only faster."""
    if len(typed) != 1:
        raise ValueError(f"an attribute value has exactly one type, got {sorted(typed)}")
    ((kind, raw),) = typed.items()
    result = _new_type(DynamoType)
    result.type = kind
    if kind == "M":
        raw = {name: decode_value(item) for name, item in raw.items()}
    elif kind == "L":
        raw = [decode_value(item) for item in raw]
    elif kind == "B":
        raw = base64.b64decode(raw)
    elif kind == "BS":
        raw = [base64.b64decode(item) for item in raw]
    elif kind in _SETS:
        raw = list(raw)
    result.value = raw
    return result


def decode_item(attrs: dict[str, Any], hash_attr: str, range_attr: str | None) -> Any:
    """Typed JSON -> moto `Item` with the table's key, bypassing per-attribute size validation.

    The attributes were valid when moto stored them, so re-validating them at restore is wasted work.
    The result is what moto stores for a PutItem of the same attributes.

    Raises:
        KeyError: a key attribute is missing.
        ValueError: an attribute value is malformed.
    """
    values = {name: decode_value(value) for name, value in attrs.items()}
    item = cast("Item", Item.__new__(Item))
    item.hash_key = values[hash_attr]
    item.range_key = values[range_attr] if range_attr else None
    stored = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(stored, values)
    item.attrs = stored
    return item
