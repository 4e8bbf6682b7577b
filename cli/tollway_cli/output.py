"""Readable output for people; ``--json`` prints the envelope unchanged for scripts.

- Money kept as integer micro-USD (``balance``, ``charge``, …) is shown as USD with every decimal it
  needs to be exact: ``61`` → ``$0.000061``, ``10000000`` → ``$10.00``.
- Times kept as epoch milliseconds or seconds (``created_at``, ``expires_at``, …) are shown as ISO-8601
  UTC (``2026-12-06T03:25:00Z``); a time of 0 (a channel whose status never changed) as ``never``.
- Tables fit ``width`` columns (100): long cells are cut with ``…`` (never an id, a model name or a
  markup pattern: an operator copies those into the next command) and the columns that do not fit are
  named under the table; ``--wide`` shows every column and every cell whole.
- A ``*_usd`` string beside the same amount in micro-USD (``balance_usd`` beside ``balance``) is not
  repeated: the amount is shown once, as USD.
- Nested values are summarised (``{input=12 output=40}``, ``[3 items]``).
- Lists of plain values (a batch's codes) are printed one per line and never cut: a secret is shown
  once, at creation, so it is always printed whole.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from typing import Any, TextIO

from tollway.money import format_usd

__all__ = ["WIDTH", "cell", "render", "usd_text"]

WIDTH = 100
_MAX_CELL = 28

# Integer micro-USD fields of the admin results (fields ending in ``_usd`` are already USD strings).
_MONEY = frozenset(
    {
        "balance",
        "amount",
        "value",
        "charge",
        "hold",
        "shortfall",
        "remaining",
        "daily_cap",
        "monthly_cap",
        "difference",
        "open_holds_total",
        "pending_total",
        "entries_total",
        "refunded_micros",
        "spent",
        "charged",
        "refunded",
    }
)
# Epoch-millisecond fields that do not end in ``_at``.
_TIME_MS = frozenset({"since_ms", "last_run_ms", "now_ms", "at"})

# Cells never cut besides ids: what an operator copies into the next command (``price set --model``,
# ``price markup-remove --pattern``); two models cut to the same prefix would read as one.
_WHOLE = frozenset({"model", "pattern"})

# Columns shown first when a table is too wide (identity, then what happened, then money).
_FIRST = (
    "time",
    "model",
    "status",
    "outcome",
    "charge",
    "balance",
    "value",
    "amount",
    "remaining",
    "input_per_1m",  # a price list: what a model costs, before its cache and limit columns
    "output_per_1m",
    "per_call",
    "markup",
    "name",
    "request_id",
    "entry_id",
    "command",
    "actor",
    "key_id",
    "account_id",
    "batch_id",
    "code_id",
    "channel_id",
    "task_id",
    "endpoint",
    "http_status",
    "prefix",
    "group",
)


def usd_text(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    return f"{sign}${format_usd(abs(micros))}"


def _iso(value: int, *, ms: bool) -> str:
    moment = datetime.fromtimestamp(value / 1000 if ms else value, tz=UTC)
    spec = "milliseconds" if ms and value % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scalar(key: str, value: Any) -> str | None:
    """A field shown the way a person reads it, or ``None`` if it is not money or a time."""
    if not _is_int(value):
        return None
    if _is_money_field(key):
        return usd_text(value)
    if key.endswith("_at") or key in _TIME_MS:
        if value == 0:
            return "never"  # the store's "not yet" (e.g. status_changed_at of a channel never switched)
        # Expiries are kept in epoch seconds, everything else in epoch milliseconds.
        return _iso(value, ms=value > 100_000_000_000)
    return None


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        parts = [
            f"{k}={_summary(v) if isinstance(v, (dict, list)) else cell(k, v, wide=True)}" for k, v in value.items()
        ]
        return "{" + " ".join(parts) + "}" if parts else "{}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) and len(value) <= 5:
            return ",".join(str(v) for v in value) if value else "[]"
        return f"[{len(value)} items]"
    return str(value)


def cell(key: str, value: Any, *, wide: bool) -> str:
    readable = _scalar(key, value)
    if readable is not None:
        return readable
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":")) if wide else _summary(value)
    elif isinstance(value, str) and value.endswith("+00:00") and value[:4].isdigit():
        text = value[: -len("+00:00")] + "Z"  # ISO-8601 UTC, written the short way
    else:
        text = "" if value is None else str(value)
    if wide or len(text) <= _MAX_CELL or key == "id" or key.endswith("_id") or key in _WHOLE:
        return text  # ids (and model names) are never cut: an operator copies them into the next command
    return text[: _MAX_CELL - 1] + "…"


def _is_money_field(key: str) -> bool:
    return key in _MONEY or key.endswith("_micros")


def _repeats_money(key: str, rows: list[dict[str, Any]]) -> bool:
    """``balance_usd`` where every row also has ``balance`` in micro-USD (shown as USD): the same amount
    twice. Where the micro-USD twin is missing or empty the ``*_usd`` string is the amount, and stays."""
    base = key.removesuffix("_usd")
    return key.endswith("_usd") and _is_money_field(base) and all(_is_int(row.get(base)) for row in rows)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return [c for c in columns if not _repeats_money(c, rows)]


def _table(rows: list[dict[str, Any]], out: TextIO, *, wide: bool, width: int) -> None:
    if not rows:
        out.write("(none)\n")
        return
    columns = _columns(rows)
    cells = [{c: cell(c, row.get(c), wide=wide) for c in columns} for row in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    shown = columns
    if not wide:
        ordered = [c for c in _FIRST if c in columns] + [c for c in columns if c not in _FIRST]
        if "time" in columns and "created_at" in ordered:  # the same instant twice: keep the readable one
            ordered.remove("created_at")
        used, keep = 0, set[str]()
        for c in ordered:
            if used + widths[c] + (2 if keep else 0) <= width:
                used += widths[c] + (2 if keep else 0)
                keep.add(c)
        shown = [c for c in columns if c in keep]
    out.write("  ".join(c.ljust(widths[c]) for c in shown).rstrip() + "\n")
    for r in cells:
        out.write("  ".join(r[c].ljust(widths[c]) for c in shown).rstrip() + "\n")
    hidden = [c for c in columns if c not in shown]
    if hidden:
        note = f"({len(hidden)} more columns: {', '.join(hidden)}; --wide shows them, --json shows all)"
        out.write(textwrap.fill(note, width) + "\n")


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def _is_plain_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(not isinstance(v, (dict, list)) for v in value)


def _fields(result: dict[str, Any], out: TextIO, *, wide: bool, width: int, indent: str = "") -> None:
    """``key: value`` lines (values whole: only table cells are cut), nested objects indented under their
    key, then lists of plain values, then tables."""
    tables = {k: v for k, v in result.items() if _is_table(v)}
    plain = {k: v for k, v in result.items() if _is_plain_list(v)}
    nested = {k: v for k, v in result.items() if isinstance(v, dict) and v and k not in tables}
    for key, value in result.items():
        if key in tables or key in plain or key in nested or value is None or _repeats_money(key, [result]):
            continue
        readable = _scalar(key, value)
        if readable is None:
            readable = value if isinstance(value, str) else cell(key, value, wide=True)
        out.write(f"{indent}{key}: {readable}\n")
    for key, child in nested.items():
        out.write(f"{indent}{key}:\n")
        _fields(child, out, wide=wide, width=width, indent=indent + "  ")
    for key, values in plain.items():  # e.g. a batch's codes: every one, whole, never cut
        inline = ", ".join(str(v) for v in values)
        if len(values) <= 5 and len(indent) + len(key) + len(inline) + 2 <= width:
            out.write(f"{indent}{key}: {inline}\n")
        else:
            out.write(f"{indent}{key} ({len(values)}):\n")
            out.writelines(f"{indent}  {v}\n" for v in values)
    for key, rows in tables.items():
        out.write(f"\n{indent}{key}:\n")
        _table(rows, out, wide=wide, width=width)


def render(result: Any, out: TextIO, *, wide: bool = False, width: int = WIDTH) -> None:
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        _table(result, out, wide=wide, width=width)
        return
    if isinstance(result, dict):
        _fields(result, out, wide=wide, width=width)
        return
    out.write(f"{result}\n")
