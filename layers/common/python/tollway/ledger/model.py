"""Ledger data: holds, balance movements and entries.

Every balance movement goes through the *holds* table, which stays small:

- a request **reserves** with an *open hold* (one atomic write that also debits the account and,
  for a limited key, the key);
- it **settles** by turning the hold into a *settled marker* that carries the ledger entries and the
  usage record still to be written (one atomic write that also returns the unused part);
- the history (entries, record) is then written with idempotent puts, and the marker is **closed**.

Credits (top-ups, sign-up gifts, redemptions, adjustments) are movements that start settled. If a
process dies between the steps, maintenance finds the marker and finishes the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tollway.records import UsageRecord

__all__ = [
    "AuditReport",
    "EntryKind",
    "GuardUse",
    "Hold",
    "HoldRejected",
    "HoldRequest",
    "HoldState",
    "LedgerEntry",
    "Movement",
    "RejectReason",
]


class HoldState(StrEnum):
    OPEN = "open"
    SETTLED = "settled"


class EntryKind(StrEnum):
    """The kinds of ledger entry. ``amount`` is signed: credits and refunds add, charges and debits take."""

    CREDIT = "credit"  # top-up, sign-up gift, redemption, positive adjustment
    DEBIT = "debit"  # negative adjustment by an operator
    CHARGE = "charge"  # a request's (or a task's) cost
    REFUND = "refund"  # money given back after a charge (e.g. a failed Midjourney task)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One balance movement, kept forever. ``entry_id`` = ``<movement id>#<kind>``: repeat-safe."""

    account_id: str
    entry_id: str
    kind: EntryKind
    amount: int
    movement_id: str
    created_at: int
    reason: str
    actor: str | None = None
    key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "entry_id": self.entry_id,
            "kind": self.kind.value,
            "amount": self.amount,
            "movement_id": self.movement_id,
            "created_at": self.created_at,
            "reason": self.reason,
        }
        if self.actor is not None:
            out["actor"] = self.actor
        if self.key_id is not None:
            out["key_id"] = self.key_id
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(
            account_id=data["account_id"],
            entry_id=data["entry_id"],
            kind=EntryKind(data["kind"]),
            amount=int(data["amount"]),
            movement_id=data["movement_id"],
            created_at=int(data["created_at"]),
            reason=data["reason"],
            actor=data.get("actor"),
            key_id=data.get("key_id"),
        )


@dataclass(frozen=True, slots=True)
class GuardUse:
    """What a reserve counts against a key's guards (see ``tollway/guards.py``), and settle undoes.

    ``rev`` is the guard revision of the key as the caller last read it; the periods say which daily,
    monthly and per-minute counters the request counts in; ``lease`` says a concurrency slot is taken
    (and must be given back by settle, which is also what maintenance runs for an orphaned hold).
    """

    rev: int
    day: str | None = None
    month: str | None = None
    minute: int | None = None
    lease: bool = False


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """What a request reserves before calling upstream.

    ``guards`` is None for a key without guards: then the reserve only checks that the key still has
    none (one more condition in the same write, nothing more).

    ``key_rev`` is the account's key revision the caller's copy of an unlimited, unguarded key was read
    with (None: check the key item itself). With it, the reserve conditions on the account's key_rev
    instead of touching the key item; the caller has checked the key's status and expiry on that copy.
    """

    hold_id: str
    account_id: str
    key_hash: str
    key_id: str
    key_limited: bool
    amount: int
    created_at: int
    endpoint: str = ""
    model: str | None = None
    guards: GuardUse | None = None
    key_rev: int | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """A row of the holds table: an open hold or a settled marker."""

    hold_id: str
    account_id: str
    state: HoldState
    amount: int
    created_at: int
    kind: str = "request"
    key_hash: str | None = None
    key_id: str | None = None
    key_limited: bool = False
    settled_at: int | None = None
    movement: Movement | None = None
    endpoint: str = ""
    model: str | None = None
    guards: GuardUse | None = None
    # What the request computed when its settle could not land (store unavailable): the sweep settles
    # at this charge with this record instead of refunding the hold as orphaned.
    due_charge: int | None = None
    due_record: UsageRecord | None = None

    def request(self) -> HoldRequest:
        """The hold as the request that made it (what settle needs)."""
        return HoldRequest(
            hold_id=self.hold_id,
            account_id=self.account_id,
            key_hash=self.key_hash or "",
            key_id=self.key_id or "",
            key_limited=self.key_limited,
            amount=self.amount,
            created_at=self.created_at,
            endpoint=self.endpoint,
            model=self.model,
            guards=self.guards,
        )


@dataclass(frozen=True, slots=True)
class Movement:
    """A settled balance movement whose history is still to be written (or already was)."""

    movement_id: str
    account_id: str
    entries: tuple[LedgerEntry, ...]
    record: UsageRecord | None
    charge: int = 0
    shortfall: int = 0
    # True when the settle itself wrote the history and closed the hold (a request's settle is one
    # transaction): there is nothing left to finish, and writing its history again is a no-op.
    closed: bool = False

    # The marker stores its entries and record as compact JSON: what the marker item itself carries
    # (its id, its account, its charge) is left out and restored on reading, which keeps a settled
    # hold under 1 KB — one write unit per write instead of two.

    def entries_json(self) -> str:
        out = []
        for entry in self.entries:
            data = entry.to_json()
            _drop_equal(data, account_id=self.account_id, movement_id=self.movement_id)
            _drop_equal(data, entry_id=f"{self.movement_id}#{entry.kind.value}")
            out.append(data)
        return json.dumps(out, separators=(",", ":"))

    def record_json(self) -> str | None:
        if self.record is None:
            return None
        data = self.record.to_json()
        data.pop("time", None)  # derived from created_at
        _drop_equal(data, request_id=self.movement_id, account_id=self.account_id)
        _drop_equal(data, charge=self.charge, shortfall=self.shortfall)
        _drop_equal(data, entry_ids=[e.entry_id for e in self.entries])
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def of_closed_settle(cls, hold: HoldRequest, record: UsageRecord, charge: int) -> Movement:
        """A settle that already happened, rebuilt from the record it wrote and what it took: a repeated
        settle's answer (its entries are in the record or the ledger already: nothing to write)."""
        return cls(
            movement_id=hold.hold_id,
            account_id=hold.account_id,
            entries=(),
            record=record,
            charge=charge,
            shortfall=record.shortfall,
            closed=True,
        )

    @classmethod
    def from_parts(
        cls, movement_id: str, account_id: str, entries: str, record: str | None, charge: int, shortfall: int
    ) -> Movement:
        parsed = []
        for data in json.loads(entries):
            data.setdefault("account_id", account_id)
            data.setdefault("movement_id", movement_id)
            data.setdefault("entry_id", f"{movement_id}#{data['kind']}")
            parsed.append(LedgerEntry.from_json(data))
        record_obj = None
        if record is not None:
            data = json.loads(record)
            data.setdefault("request_id", movement_id)
            data.setdefault("account_id", account_id)
            data.setdefault("charge", charge)
            data.setdefault("shortfall", shortfall)
            data.setdefault("entry_ids", [e.entry_id for e in parsed])
            record_obj = UsageRecord.from_json(data)
        return cls(
            movement_id=movement_id,
            account_id=account_id,
            entries=tuple(parsed),
            record=record_obj,
            charge=charge,
            shortfall=shortfall,
        )


def _drop_equal(data: dict[str, Any], **defaults: Any) -> None:
    for name, value in defaults.items():
        if name in data and data[name] == value:
            del data[name]


class RejectReason(StrEnum):
    ACCOUNT_MISSING = "account_missing"
    ACCOUNT_DISABLED = "account_disabled"
    BALANCE = "balance"
    KEY_MISSING = "key_missing"
    KEY_DISABLED = "key_disabled"
    KEY_REVOKED = "key_revoked"
    KEY_EXPIRED = "key_expired"
    KEY_LIMIT = "key_limit"
    KEY_KIND_CHANGED = "key_kind_changed"  # the key's limit or guards changed since it was cached
    DAILY_CAP = "daily_cap"  # the key's daily spend cap cannot pay for the request
    MONTHLY_CAP = "monthly_cap"  # the key's monthly spend cap cannot pay for the request
    RATE_LIMIT = "rate_limit"  # the key's requests-per-minute guard
    CONCURRENCY = "concurrency"  # the key's concurrent-requests guard


class HoldRejected(Exception):
    """The reserve's conditions failed. Carries what the failed condition revealed (no extra read)."""

    def __init__(
        self,
        reason: RejectReason,
        *,
        account_balance: int | None = None,
        key_remaining: int | None = None,
        day_left: int | None = None,
        month_left: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.account_balance = account_balance
        self.key_remaining = key_remaining
        self.day_left = day_left
        self.month_left = month_left
        self.retry_after_s = retry_after_s

    @property
    def available(self) -> int | None:
        """The most a retried reserve could take, when the rejection was about money."""
        known = [v for v in (self.account_balance, self.key_remaining, self.day_left, self.month_left) if v is not None]
        return max(0, min(known)) if known else None


class SettleDeferred(Exception):
    """The settle could not land (the store kept failing), but what it would have charged is stored on
    the hold: maintenance settles it at that charge. The request was served and will be paid for."""

    def __init__(self, hold_id: str, charge: int) -> None:
        super().__init__(f"settle of {hold_id} deferred at {charge} micro-USD")
        self.hold_id = hold_id
        self.charge = charge


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Invariant 5 for one account: Σ entries (written or pending) − open holds = balance."""

    account_id: str
    balance: int
    entries_total: int
    pending_total: int
    open_holds_total: int
    entries: int

    @property
    def expected_balance(self) -> int:
        return self.entries_total + self.pending_total - self.open_holds_total

    @property
    def difference(self) -> int:
        return self.balance - self.expected_balance

    @property
    def ok(self) -> bool:
        return self.difference == 0 and self.balance >= 0

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "balance": self.balance,
            "entries_total": self.entries_total,
            "pending_total": self.pending_total,
            "open_holds_total": self.open_holds_total,
            "entries": self.entries,
            "difference": self.difference,
            "ok": self.ok,
        }
