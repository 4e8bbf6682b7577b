"""``--out FILE``: the secrets a command creates (a batch's codes, sign-up invites, a new key) written as CSV.

A secret is shown once, at creation, so the file is created, never overwritten (an existing file is
refused and the secrets are printed instead), and readable by its owner only.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from tollway.money import format_usd

__all__ = ["SECRET_COMMANDS", "secret_rows", "write_csv"]

# The commands whose result holds a secret, and the field that holds it.
SECRET_COMMANDS = {"redeem.create": "codes", "console.invite": "invites", "key.create": "key", "key.rotate": "key"}


def _expiry(value: Any) -> str:
    from tollway_cli.output import cell

    return cell("expires_at", value, wide=True) if value is not None else ""


def secret_rows(command: str, result: dict[str, Any]) -> list[dict[str, str]]:
    """One CSV row per secret in ``result``."""
    if command == "redeem.create":
        value = result.get("value")
        return [
            {
                "code": str(code),
                "batch_id": str(result.get("batch_id", "")),
                "value_usd": format_usd(value) if isinstance(value, int) else "",
                "expires_at": _expiry(result.get("expires_at")),
                "group": str(result.get("group") or ""),
            }
            for code in result.get("codes", [])
        ]
    if command == "console.invite":
        return [{"invite": str(code)} for code in result.get("invites", [])]
    return [
        {
            "key": str(result.get("key", "")),
            "key_id": str(result.get("key_id", "")),
            "account_id": str(result.get("account_id", "")),
            "name": str(result.get("name", "")),
            "expires_at": _expiry(result.get("expires_at")),
        }
    ]


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Create ``path`` (mode 600) with ``rows``.

    Raises:
        FileExistsError: ``path`` exists (it is never overwritten).
        OSError: it cannot be created.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["code"])
        writer.writeheader()
        writer.writerows(rows)
