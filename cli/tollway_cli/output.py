"""Readable output for people; ``--json`` prints the envelope unchanged for scripts."""

from __future__ import annotations

import json
from typing import Any, TextIO

__all__ = ["render"]

_MAX_CELL = 40


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        out.write("(none)\n")
        return
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    out.write("  ".join(c.ljust(widths[c]) for c in columns).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns).rstrip() + "\n")


def render(result: Any, out: TextIO) -> None:
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        _table(result, out)
        return
    if isinstance(result, dict):
        lists = {k: v for k, v in result.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)}
        for key, value in result.items():
            if key not in lists and value is not None:
                out.write(f"{key}: {_cell(value) if not isinstance(value, str) else value}\n")
        for key, rows in lists.items():
            out.write(f"\n{key}:\n")
            _table(rows, out)
        return
    out.write(f"{result}\n")
