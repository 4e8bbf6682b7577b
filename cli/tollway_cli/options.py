"""Turn a command's pydantic argument model into ``argparse`` options, and back into arguments.

``--field-name VALUE`` per field; booleans are ``--flag/--no-flag``; lists repeat the option or take a
comma-separated value; mappings take ``KEY=VALUE`` repeatedly or one JSON object. Required fields are
required options (shown without brackets in the usage line); every option has a description (the
field's own, or one of the shared ones below for the fields every group has). Times accept ISO dates
and times, durations and epoch seconds (``tollway_cli.times``).
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tollway_cli.times import parse_time

__all__ = ["COMMON_HELP", "add_model_options", "collect_args", "flag_of", "help_of"]

# Descriptions of the fields many commands share, used where a command's field has none of its own.
COMMON_HELP: dict[str, str] = {
    "account_id": "The account's id (acct_…; see `account list`).",
    "key_id": "The key's id (key_…; see `key list`).",
    "channel_id": "The channel's id (see `channel list`).",
    "batch_id": "The redemption batch's id (rb_…; see `redeem list`).",
    "code_id": "One code's id (rc_…; see `redeem list --batch-id`).",
    "task_id": "The task's id.",
    "model": "A model name, e.g. gpt-4.1-mini.",
    "models": "Model names (repeat the option, or separate with commas).",
    "name": "A name people recognise it by.",
    "group": "A group (sets prices and routing; see `group list`).",
    "groups": "Groups (repeat the option, or separate with commas).",
    "limit": "At most this many rows.",
    "cursor": "Continue after a previous page (its next_cursor).",
    "status": "Only rows with this status.",
    "type": "The upstream's API flavour.",
    "priority": "Routing priority: higher-priority channels are tried first.",
    "weight": "Share of traffic among channels of the same priority (0: only as a fallback).",
    "reason": "Why (kept with the change and in the audit trail).",
    "note": "A note kept with the change and in the audit trail.",
    "headers": "Extra HTTP headers sent upstream (KEY=VALUE, repeatable, or a JSON object).",
    "settings": "Extra settings (KEY=VALUE, repeatable, or a JSON object).",
    "base_url": "The upstream's base URL, e.g. https://api.openai.com/v1.",
    "connect_timeout_s": "Seconds to wait for a connection to the upstream.",
    "read_timeout_s": "Seconds to wait between bytes of the upstream's answer.",
    "rpm": "Requests per minute (0: no limit).",
    "concurrency": "Requests at once (0: no limit).",
    "ratio": "Price multiplier for the group (1: list price).",
    "end": "End time, exclusive.",
    "start": "Start time, inclusive.",
    "days": "How many days.",
    "dry_run": "Show what would change without changing it.",
    "scope": "Which prices.",
    "source": "Which prices: shipped, operator overrides, or all.",
    "key_hash": "The key's hash.",
    "credit_usd": "Credit to start with, in USD.",
    "amount_usd": "Amount in USD.",
    "value_usd": "Value in USD.",
    "count": "How many.",
    "multiplier": "Multiplier on the shipped list price (2: twice the list price).",
    "pattern": "A model name, or a pattern with * (gpt-4*).",
    "model_map": "Requested model name → the upstream's name (KEY=VALUE, repeatable, or a JSON object).",
    "description": "A description for people.",
    "default_mode": "Midjourney speed used when a request names none (fast, relax or turbo).",
    "default_image_mode": "How Midjourney images are served when a request says nothing.",
    "task_timeout_s": "Seconds after which an unfinished task is failed and refunded.",
    "refresh_after_s": "Seconds between upstream refreshes of an unfinished task on fetch.",
    "image_link_ttl_s": "Seconds a signed image link stays valid.",
    "cached_input_per_1m": "USD per 1M cached input tokens.",
    "context_window": "The model's context window, in tokens.",
    "max_output_tokens": "The most output tokens one answer may have.",
    "outcome": "Only entries with this outcome.",
    "site_name": "The site's name as the customer console shows it.",
}

_TIME_HELP = "ISO date/time (2027-01-01, 2027-01-01T12:00Z), a duration ({example}) or epoch seconds"


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


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


def _kind(name: str, annotation: Any) -> str:
    inner, _ = _unwrap(annotation)
    origin = typing.get_origin(inner)
    if name.endswith("expires_at"):
        return "expiry"
    if inner is datetime:
        return "datetime"
    if inner is date:
        return "date"
    if inner is bool:
        return "bool"
    if origin in (list, tuple, set) or inner in (list, tuple, set):
        return "list"
    if origin is dict or inner is dict:
        return "dict"
    return "scalar"


def _choices(annotation: Any) -> list[str] | None:
    inner, _ = _unwrap(annotation)
    if typing.get_origin(inner) is typing.Literal:
        values = typing.get_args(inner)
        if all(isinstance(v, str) for v in values):
            return [str(v) for v in values]
    return None


def _bounds(field: FieldInfo) -> str:
    low = high = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
    return ", ".join(b for b in (low, high) if b)


def help_of(name: str, field: FieldInfo) -> str:
    """The option's description: what it is, its bounds and its default."""
    kind = _kind(name, field.annotation)
    text = (field.description or COMMON_HELP.get(name) or "").strip()
    if text.startswith("ISO-8601 time, "):  # the accepted forms are listed below
        text = text[len("ISO-8601 time, ") :].capitalize()
    if kind == "expiry":
        text = f"{text} {_TIME_HELP.format(example='30d: in 30 days')}."
    elif kind in ("datetime", "date"):
        text = f"{text} {_TIME_HELP.format(example='7d: 7 days ago')}."
    notes = [b for b in (_bounds(field),) if b]
    default = field.default
    if not field.is_required() and default not in (None, "", [], {}) and not isinstance(default, bool):
        notes.append(f"default {default}")
    if notes:
        text = f"{text} ({'; '.join(notes)})" if text else "; ".join(notes)
    return text.strip().replace("%", "%%")  # argparse formats help with %: a literal % must be doubled


def _metavar(name: str, kind: str, annotation: Any) -> str:
    inner, _ = _unwrap(annotation)
    if kind in ("expiry", "datetime", "date"):
        return "TIME"
    if kind == "list":
        return "A,B"
    if kind == "dict":
        return "KEY=VALUE"
    if name.endswith("_usd"):
        return "USD"
    if inner is int:
        return "N"
    return "VALUE"


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    required = parser.add_argument_group("required options")
    optional = parser  # argparse's own "options" section
    for name, field in model.model_fields.items():
        flag = flag_of(name)
        kind = _kind(name, field.annotation)
        target = required if field.is_required() else optional
        extra: dict[str, Any] = {"dest": name, "default": None, "help": help_of(name, field)}
        if field.is_required():
            extra["required"] = True
        if kind == "bool":
            target.add_argument(flag, action=argparse.BooleanOptionalAction, **extra)
        elif kind in ("list", "dict"):
            target.add_argument(flag, action="append", metavar=_metavar(name, kind, field.annotation), **extra)
        elif (choices := _choices(field.annotation)) is not None:
            target.add_argument(flag, choices=choices, **extra)
        else:
            target.add_argument(flag, metavar=_metavar(name, kind, field.annotation), **extra)


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


def _time_arg(kind: str, value: str, now: datetime) -> Any:
    if kind == "expiry":
        if value.strip().lower() == "never":
            return "never"
        return int(parse_time(value, now=now, direction="future").timestamp())
    moment = parse_time(value, now=now, direction="past")
    if kind == "date":
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def collect_args(
    namespace: argparse.Namespace, model: type[BaseModel], *, now: datetime | None = None
) -> dict[str, Any]:
    """The command's raw arguments from parsed options (validation stays with the command).

    Raises:
        ValueError: an option's value cannot be read (the message names the option).
    """
    now = now or datetime.now(tz=UTC)
    args: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = getattr(namespace, name, None)
        if value is None:
            continue
        kind = _kind(name, field.annotation)
        try:
            if kind == "list":
                args[name] = _parse_list(value)
            elif kind == "dict":
                args[name] = _parse_dict(value)
            elif kind in ("expiry", "datetime", "date"):
                args[name] = _time_arg(kind, value, now)
            else:
                args[name] = value
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{flag_of(name)}: {exc}") from exc
    return args
