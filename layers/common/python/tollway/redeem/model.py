"""Redemption codes and batches.

A code is shown once, when its batch is created; only its SHA-256 is stored (like customer keys), so
the codes table holds nothing a thief could redeem. Listings show a short prefix and a stable id.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tollway.errors import RedeemConflict, RedeemForbidden, RedeemRefused
from tollway.ledger.model import Movement
from tollway.money import format_usd

__all__ = [
    "CODE_PREFIX",
    "Batch",
    "Code",
    "CodeStatus",
    "RedeemRefused",
    "Redemption",
    "code_prefix",
    "generate_code",
    "hash_code",
    "is_well_formed",
    "redeemer",
    "refused",
]

CODE_PREFIX = "rdm-"
_ALPHABET = string.digits + string.ascii_letters
_BODY = 32  # ≈190 bits: codes cannot be guessed, so redeeming needs no attempt counter


def generate_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_BODY))


def is_well_formed(code: str) -> bool:
    body = code[len(CODE_PREFIX) :]
    return code.startswith(CODE_PREFIX) and len(body) == _BODY and all(c in _ALPHABET for c in body)


def redeemer(account_id: str, key_id: str | None) -> str:
    """The actor of a redemption's ledger entry: the key, or the account's console session."""
    return f"key:{key_id}" if key_id else f"console:{account_id}"


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def code_prefix(code: str) -> str:
    """What listings show: ``rdm-AbCd…wxyz``."""
    return f"{code[:8]}…{code[-4:]}"


class CodeStatus(StrEnum):
    UNUSED = "unused"
    USED = "used"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Code:
    code_hash: str
    code_id: str
    batch_id: str
    prefix: str
    value: int  # micro-USD credited
    status: CodeStatus
    created_at: int  # ms
    expires_at: int | None = None  # epoch seconds
    group: str | None = None  # only accounts of this group may redeem it
    used_by: str | None = None
    used_key: str | None = None
    used_at: int | None = None
    movement_id: str | None = None

    def expired(self, now_s: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now_s

    def to_json(self) -> dict[str, Any]:
        """The code as listings show it (never the code or its hash)."""
        return {
            "code_id": self.code_id,
            "batch_id": self.batch_id,
            "prefix": self.prefix,
            "value_usd": format_usd(self.value),
            "status": self.status.value,
            "expires_at": self.expires_at,
            "group": self.group,
            "used_by": self.used_by,
            "used_key": self.used_key,
            "used_at": self.used_at,
        }


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    name: str
    value: int
    count: int
    created_at: int
    created_by: str
    expires_at: int | None = None
    group: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "name": self.name,
            "value_usd": format_usd(self.value),
            "value": self.value,
            "count": self.count,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "group": self.group,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        return cls(
            batch_id=data["batch_id"],
            name=data.get("name", ""),
            value=int(data["value"]),
            count=int(data["count"]),
            created_at=int(data["created_at"]),
            created_by=data.get("created_by", ""),
            expires_at=data.get("expires_at"),
            group=data.get("group"),
        )


@dataclass(frozen=True, slots=True)
class Redemption:
    """A successful redemption: the credit (its history still to be written) and the code as used."""

    movement: Movement
    code: Code


#: Why a code cannot be redeemed → the tree's class, the code records keep, the customer's message.
_REFUSALS: dict[str, tuple[type[RedeemRefused], str, str]] = {
    "invalid": (RedeemRefused, "code_invalid", "This redemption code is not valid."),
    "used": (RedeemConflict, "code_used", "This redemption code has already been used."),
    "disabled": (RedeemRefused, "code_disabled", "This redemption code has been disabled."),
    "expired": (RedeemRefused, "code_expired", "This redemption code has expired."),
    "group": (RedeemForbidden, "code_group", "This redemption code is not valid for your account's group."),
    "account_disabled": (RedeemForbidden, "account_disabled", "This account is disabled."),
    "key_disabled": (RedeemForbidden, "key_disabled", "This API key is disabled."),
    "key_expired": (RedeemForbidden, "key_expired", "This API key has expired."),
}


def refused(reason: str) -> RedeemRefused:
    """The refusal for ``reason`` (an unknown reason reads as an invalid code: nothing is credited)."""
    cls, code, message = _REFUSALS.get(reason, _REFUSALS["invalid"])
    return cls(message, reason=reason if reason in _REFUSALS else "invalid", code=code)
