"""The shared state of the in-memory stores: one lock, one dict per table."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tollway.accounts.model import Account, ApiKey
from tollway.ledger.model import Hold, LedgerEntry
from tollway.records import UsageRecord

__all__ = ["MemoryBackend"]


@dataclass
class MemoryBackend:
    """Tables as dicts. Every store operation takes ``lock`` for its whole duration (atomic, like a
    DynamoDB conditional write or transaction)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    accounts: dict[str, Account] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    ledger: dict[str, dict[str, LedgerEntry]] = field(default_factory=dict)
    usage: dict[str, UsageRecord] = field(default_factory=dict)
    config: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    codes: dict[str, Any] = field(default_factory=dict)  # redemption codes by hash (tollway/redeem)
