"""Accounts (a balance, a group, a status) and keys (a stable id, a hash, limits and allow-lists)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Account", "AccountStatus", "ApiKey", "KeyStatus"]


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
        }
