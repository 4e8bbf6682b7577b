"""The ledger: reserve → settle → history → close, and the audit that proves it balances."""

from tollway.ledger.model import (
    AuditReport,
    EntryKind,
    Hold,
    HoldRejected,
    HoldRequest,
    HoldState,
    LedgerEntry,
    Movement,
    RejectReason,
)
from tollway.ledger.ports import LedgerStore

__all__ = [
    "AuditReport",
    "EntryKind",
    "Hold",
    "HoldRejected",
    "HoldRequest",
    "HoldState",
    "LedgerEntry",
    "LedgerStore",
    "Movement",
    "RejectReason",
]
