"""Accounts (a balance, a group, a status) and keys (a stable id, a hash, limits and allow-lists)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar

__all__ = [
    "KEEP",
    "Account",
    "AccountStatus",
    "ApiKey",
    "GuardState",
    "Keep",
    "KeyChanges",
    "KeyGuards",
    "KeyStatus",
    "apply_guard_changes",
    "changed",
]


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    group: str
    status: AccountStatus
    balance: int
    created_at: int
    settings: dict[str, Any] = field(default_factory=dict)
    # Bumped by every change to one of the account's keys. The reserve of an unlimited key without
    # guards conditions on it instead of reading the key item (ledger/dynamodb.py): a key cached with
    # the account's key_rev is current exactly as long as key_rev has not moved.
    key_rev: int = 0

    def to_json(self) -> dict[str, Any]:
        from tollway.money import format_usd

        return {
            "account_id": self.account_id,
            "name": self.name,
            "group": self.group,
            "status": self.status.value,
            "balance": self.balance,
            "balance_usd": format_usd(self.balance),
            "created_at": self.created_at,
            "settings": self.settings,
        }


@dataclass(frozen=True, slots=True)
class KeyGuards:
    """Optional per-key guards, all off by default (a key without guards stores none of this).

    ``rev`` changes whenever the operator changes the guards: the reserve write checks it, so a process
    holding an older copy of the key in its cache is told to reload it instead of skipping a guard.
    """

    rev: int
    daily_cap: int | None = None  # micro-USD per UTC day
    monthly_cap: int | None = None  # micro-USD per UTC calendar month
    rpm: int | None = None  # reserved requests per minute (fixed one-minute windows)
    concurrency: int | None = None  # requests in flight at once

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.daily_cap, self.monthly_cap, self.rpm, self.concurrency))

    def to_json(self) -> dict[str, Any]:
        from tollway.money import format_usd

        return {
            "daily_cap_usd": None if self.daily_cap is None else format_usd(self.daily_cap),
            "monthly_cap_usd": None if self.monthly_cap is None else format_usd(self.monthly_cap),
            "rpm": self.rpm,
            "concurrency": self.concurrency,
        }


@dataclass(frozen=True, slots=True)
class GuardState:
    """The guards' counters as the store last saw them (the reserve and settle writes keep them)."""

    day_period: str | None = None  # "YYYY-MM-DD" (UTC) the daily counter belongs to
    day_left: int | None = None
    month_period: str | None = None  # "YYYY-MM"
    month_left: int | None = None
    rpm_window: int | None = None  # epoch minute
    rpm_count: int | None = None
    inflight: int | None = None

    def to_json(self) -> dict[str, Any]:
        import dataclasses

        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A customer key. ``remaining`` is the key's own limit in micro-USD; ``None`` means unlimited."""

    key_hash: str
    key_id: str
    account_id: str
    name: str
    prefix: str
    status: KeyStatus
    created_at: int
    remaining: int | None = None
    expires_at: int | None = None  # epoch seconds
    models: tuple[str, ...] | None = None
    cidrs: tuple[str, ...] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    guards: KeyGuards | None = None
    guard_state: GuardState = field(default_factory=GuardState)

    @property
    def limited(self) -> bool:
        return self.remaining is not None

    def expired(self, now_s: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now_s

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    def allows_ip(self, ip: str | None) -> bool:
        if self.cidrs is None:
            return True
        if ip is None:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(c, strict=False) for c in self.cidrs)

    def to_json(self) -> dict[str, Any]:
        """The key as admin listings show it: the prefix, never the secret or its hash."""
        from tollway.money import format_usd

        return {
            "key_id": self.key_id,
            "account_id": self.account_id,
            "name": self.name,
            "prefix": self.prefix,
            "status": self.status.value,
            "created_at": self.created_at,
            "remaining": self.remaining,
            "remaining_usd": None if self.remaining is None else format_usd(self.remaining),
            "expires_at": self.expires_at,
            "models": None if self.models is None else list(self.models),
            "cidrs": None if self.cidrs is None else list(self.cidrs),
            "settings": self.settings,
            "guards": None if self.guards is None else self.guards.to_json(),
            "guard_state": self.guard_state.to_json() or None,
        }


class Keep(Enum):
    """The "leave unchanged" marker of :class:`KeyChanges` (None already means "off"/"unlimited")."""

    KEEP = "keep"


KEEP = Keep.KEEP
T = TypeVar("T")


def changed(new: T | Keep, old: T) -> T:
    """``new`` unless it is :data:`KEEP`."""
    return old if isinstance(new, Keep) else new


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """An update of a key's settings. :data:`KEEP` leaves a field as it is; None turns it off."""

    name: str | Keep = KEEP
    remaining: int | None | Keep = KEEP  # None: unlimited
    expires_at: int | None | Keep = KEEP
    models: tuple[str, ...] | None | Keep = KEEP
    cidrs: tuple[str, ...] | None | Keep = KEEP
    daily_cap: int | None | Keep = KEEP
    monthly_cap: int | None | Keep = KEEP
    rpm: int | None | Keep = KEEP
    concurrency: int | None | Keep = KEEP
    settings: dict[str, Any] | Keep = KEEP  # merged into the key's open settings; a None value removes a name

    def touches_guards(self) -> bool:
        return any(not isinstance(v, Keep) for v in (self.daily_cap, self.monthly_cap, self.rpm, self.concurrency))


def merge_settings(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A key's settings after ``changes`` (a None value removes that setting)."""
    new = dict(old)
    for name, value in changes.items():
        if value is None:
            new.pop(name, None)
        else:
            new[name] = value
    return new


def apply_guard_changes(old: KeyGuards | None, changes: KeyChanges, rev: int) -> KeyGuards | None:
    """The guards after ``changes`` (None when every guard is off), with revision ``rev`` if they changed."""
    base = old or KeyGuards(rev=0)
    new = KeyGuards(
        rev=rev,
        daily_cap=changed(changes.daily_cap, base.daily_cap),
        monthly_cap=changed(changes.monthly_cap, base.monthly_cap),
        rpm=changed(changes.rpm, base.rpm),
        concurrency=changed(changes.concurrency, base.concurrency),
    )
    if new.empty:
        return None
    if old is not None and (new.daily_cap, new.monthly_cap, new.rpm, new.concurrency) == (
        old.daily_cap,
        old.monthly_cap,
        old.rpm,
        old.concurrency,
    ):
        return old
    return new
