"""key.* — customer keys (shown once at creation; stored as a hash)."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, field_validator

from tollway.accounts.model import ApiKey, KeyStatus
from tollway.accounts.ports import NotFoundError
from tollway.admin.commands._common import Usd, micros_of, not_found
from tollway.admin.registry import REGISTRY, AdminContext, Args, CommandError
from tollway.ids import key_id
from tollway.keys import display_prefix, generate_key, hash_key


class CreateKey(Args):
    account_id: str = Field(min_length=1)
    name: str = Field(default="default", max_length=200)
    limit_usd: Usd | None = Field(default=None, description="The key's own spending limit; omit for unlimited.")
    expires_at: int | None = Field(default=None, gt=0, description="Expiry, epoch seconds.")
    models: list[str] | None = Field(default=None, description="Model allow-list; omit for all models.")
    cidrs: list[str] | None = Field(default=None, description="IP/CIDR allow-list; omit for any address.")

    @field_validator("cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or []:
            ipaddress.ip_network(cidr, strict=False)
        return value


@REGISTRY.command("key.create", CreateKey, summary="Create a key for an account (the secret is shown once).")
def create_key(args: CreateKey, context: AdminContext) -> dict[str, Any]:
    secret = generate_key()
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=args.account_id,
        name=args.name,
        prefix=display_prefix(secret),
        status=KeyStatus.ACTIVE,
        created_at=context.clock_ms(),
        remaining=None if args.limit_usd is None else micros_of(args.limit_usd),
        expires_at=args.expires_at,
        models=None if args.models is None else tuple(args.models),
        cidrs=None if args.cidrs is None else tuple(args.cidrs),
    )
    try:
        context.services.accounts.create_key(key)
    except NotFoundError as exc:
        raise not_found("account", args.account_id) from exc
    except ValueError as exc:
        raise CommandError("conflict", "Key collision; try again.") from exc
    return {"key": secret, **key.to_json()}


class KeyRef(Args):
    key_id: str = Field(min_length=1)


def _set_status(args: KeyRef, context: AdminContext, status: KeyStatus) -> dict[str, Any]:
    try:
        key = context.services.accounts.set_key_status(args.key_id, status)
    except NotFoundError as exc:
        raise not_found("key", args.key_id) from exc
    context.services.keys.forget(key.key_hash)
    return key.to_json()


@REGISTRY.command("key.disable", KeyRef, summary="Disable a key (refused on its next request).")
def disable_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    return _set_status(args, context, KeyStatus.DISABLED)


@REGISTRY.command("key.enable", KeyRef, summary="Enable a disabled key.")
def enable_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    return _set_status(args, context, KeyStatus.ACTIVE)


@REGISTRY.command("key.get", KeyRef, mutating=False, summary="Show a key (its prefix, never the secret).")
def get_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    key = context.services.accounts.get_key_by_id(args.key_id)
    if key is None:
        raise not_found("key", args.key_id)
    return key.to_json()
