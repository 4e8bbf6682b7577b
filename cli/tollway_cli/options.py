"""Turn a command's pydantic argument model into ``argparse`` options, and back into arguments.

``--field-name VALUE`` per field; booleans are ``--flag/--no-flag``; lists repeat the option or take a
comma-separated value; mappings take ``KEY=VALUE`` repeatedly or one JSON object.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from typing import Any

from pydantic import BaseModel

__all__ = ["add_model_options", "collect_args"]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of ``X | None`` / ``Optional[X]`` / ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            inner, _ = _unwrap(args[0])
            return inner, True
    return annotation, False


def _kind(annotation: Any) -> str:
    inner, _ = _unwrap(annotation)
    origin = typing.get_origin(inner)
    if inner is bool:
        return "bool"
    if origin in (list, tuple, set) or inner in (list, tuple, set):
        return "list"
    if origin is dict or inner is dict:
        return "dict"
    return "scalar"


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind = _kind(field.annotation)
        help_text = field.description or ""
        if field.is_required():
            help_text = f"(required) {help_text}".strip()
        if kind == "bool":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind in ("list", "dict"):
            parser.add_argument(flag, dest=name, action="append", default=None, metavar="VALUE", help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, metavar="VALUE", help=help_text)


def _parse_list(values: list[str]) -> list[str]:
    if len(values) == 1 and values[0].startswith("["):
        parsed = json.loads(values[0])
        return [str(v) for v in parsed]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _parse_dict(values: list[str]) -> dict[str, Any]:
    if len(values) == 1 and values[0].lstrip().startswith("{"):
        parsed = json.loads(values[0])
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object")
        return parsed
    out: dict[str, Any] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE, got {value!r}")
        out[key.strip()] = item
    return out


def collect_args(namespace: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The command's raw arguments from parsed options (validation stays with the command)."""
    args: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = getattr(namespace, name, None)
        if value is None:
            continue
        kind = _kind(field.annotation)
        if kind == "list":
            args[name] = _parse_list(value)
        elif kind == "dict":
            args[name] = _parse_dict(value)
        else:
            args[name] = value
    return args
