"""Helpers shared by command modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, SecretStr

from tollway.admin.registry import AdminContext
from tollway.errors import NotFound
from tollway.ledger.model import Movement
from tollway.money import MoneyError, format_usd, parse_usd

__all__ = [
    "ChannelKey",
    "SignedUsd",
    "Usd",
    "drop_none",
    "finish_movement",
    "forget_account_keys",
    "micros_of",
    "not_found",
    "require_group",
    "usd",
]


def _check_usd(value: str) -> str:
    try:
        parse_usd(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _check_signed_usd(value: str) -> str:
    try:
        parse_usd(value, allow_negative=True)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _check_channel_key(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty; leave it out for an upstream that needs no key")
    return value


Usd = Annotated[str, AfterValidator(_check_usd)]
# An upstream key: present and non-empty, or absent (a self-hosted upstream may need none).
ChannelKey = Annotated[SecretStr, AfterValidator(_check_channel_key)]
SignedUsd = Annotated[str, AfterValidator(_check_signed_usd)]


def micros_of(value: str) -> int:
    return int(parse_usd(value, allow_negative=True) * Decimal(1_000_000))


def usd(micros: int) -> str:
    return format_usd(micros)


def finish_movement(context: AdminContext, movement: Movement | None) -> None:
    """Write a credit's history and close its marker (maintenance repairs it if this fails)."""
    if movement is not None:
        context.services.biller.finish(movement)


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"No {kind} {ident!r}.")


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def require_group(context: AdminContext, group: str) -> None:
    """Refuse a group that does not exist (a typo would silently price and route an account wrongly)."""
    svc = context.services
    if group != svc.settings.default_group and group not in svc.config.list_groups():
        raise NotFound(f"No group {group!r}; create it with `group set --name {group}` first.")


def forget_account_keys(context: AdminContext, account_id: str) -> None:
    """Drop an account's keys from this process's key cache, so a change to the account is seen at once
    here (locally: by the relay too; on AWS other processes see it within the key cache's TTL — the
    reserve write enforces the account's status anyway)."""
    for key in context.services.accounts.list_keys(account_id):
        context.services.keys.forget(key.key_hash)
