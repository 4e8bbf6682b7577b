"""key.* — customer keys (shown once at creation and rotation; stored as a hash).

Optional per-key guards — daily/monthly spend caps, requests per minute, concurrent requests — are
off by default and cost nothing when off (``tollway/guards.py``).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from tollway.accounts.model import KEEP, ApiKey, KeyChanges, KeyGuards, KeyStatus
from tollway.accounts.ports import NotFoundError
from tollway.admin.commands._common import Usd, micros_of, not_found
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import Conflict
from tollway.ids import key_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.money import MoneyError, parse_usd


def _positive_usd_or_word(words: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value in words:
            return value
        try:
            amount = parse_usd(value)
        except MoneyError as exc:
            raise ValueError(f"{exc} (or one of: {', '.join(words)})") from exc
        if amount <= 0:
            raise ValueError(f"must be more than zero (or one of: {', '.join(words)})")
        return value

    return AfterValidator(check)


def _valid_cidrs(value: list[str] | None) -> list[str] | None:
    for cidr in value or []:
        if cidr != "*":
            ipaddress.ip_network(cidr, strict=False)
    return value


PositiveUsd = Annotated[str, _positive_usd_or_word(())]
LimitUsd = Annotated[str, _positive_usd_or_word(("unlimited",))]
CapUsd = Annotated[str, _positive_usd_or_word(("off",))]


class _Guards(Args):
    daily_cap_usd: CapUsd | None = Field(default=None, description='Spend cap per UTC day ("off": none).')
    monthly_cap_usd: CapUsd | None = Field(default=None, description='Spend cap per UTC month ("off": none).')
    rpm: int | None = Field(default=None, ge=0, le=1_000_000, description="Requests per minute (0: no limit).")
    concurrency: int | None = Field(default=None, ge=0, le=100_000, description="Requests in flight (0: no limit).")

    def changes(self) -> dict[str, Any]:
        """The guard fields of a :class:`KeyChanges` (only those given)."""
        out: dict[str, Any] = {}
        if self.daily_cap_usd is not None:
            out["daily_cap"] = None if self.daily_cap_usd == "off" else micros_of(self.daily_cap_usd)
        if self.monthly_cap_usd is not None:
            out["monthly_cap"] = None if self.monthly_cap_usd == "off" else micros_of(self.monthly_cap_usd)
        if self.rpm is not None:
            out["rpm"] = self.rpm or None
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency or None
        return out


class CreateKey(_Guards):
    account_id: str = Field(min_length=1)
    name: str = Field(default="default", max_length=200)
    limit_usd: Usd | None = Field(default=None, description="The key's own spending limit; omit for unlimited.")
    expires_at: int | None = Field(default=None, gt=0, description="Expiry, epoch seconds.")
    models: list[str] | None = Field(default=None, description="Model allow-list; omit for all models.")
    cidrs: list[str] | None = Field(default=None, description="IP/CIDR allow-list; omit for any address.")
    usage_scope: Literal["key", "account"] | None = Field(
        default=None, description='"account": the key may read its whole account\'s usage records.'
    )

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        return _valid_cidrs(value)


@REGISTRY.command("key.create", CreateKey, summary="Create a key for an account (the secret is shown once).")
def create_key(args: CreateKey, context: AdminContext) -> dict[str, Any]:
    now = context.clock_ms()
    secret = generate_key()
    guards = KeyGuards(rev=now, **args.changes())
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=args.account_id,
        name=args.name,
        prefix=display_prefix(secret),
        status=KeyStatus.ACTIVE,
        created_at=now,
        remaining=None if args.limit_usd is None else micros_of(args.limit_usd),
        expires_at=args.expires_at,
        models=None if args.models is None else tuple(args.models),
        cidrs=None if args.cidrs is None else tuple(args.cidrs),
        guards=None if guards.empty else guards,
        settings={"usage_scope": args.usage_scope} if args.usage_scope else {},
    )
    try:
        context.services.accounts.create_key(key)
    except NotFoundError as exc:
        raise not_found("account", args.account_id) from exc
    except ValueError as exc:
        raise Conflict("Key collision; try again.") from exc
    return {"key": secret, **key.to_json()}


class KeyRef(Args):
    key_id: str = Field(min_length=1)


def _get(context: AdminContext, ident: str) -> ApiKey:
    key = context.services.accounts.get_key_by_id(ident)
    if key is None:
        raise not_found("key", ident)
    return key


def _set_status(args: KeyRef, context: AdminContext, status: KeyStatus) -> dict[str, Any]:
    if _get(context, args.key_id).status is KeyStatus.REVOKED and status is not KeyStatus.REVOKED:
        raise Conflict(f"Key {args.key_id} is revoked; create a new key instead.")
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


@REGISTRY.command("key.revoke", KeyRef, summary="Revoke a key for good (its history stays).")
def revoke_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    return _set_status(args, context, KeyStatus.REVOKED)


@REGISTRY.command("key.get", KeyRef, mutating=False, summary="Show a key (its prefix, never the secret).")
def get_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    return _get(context, args.key_id).to_json()


class ListKeys(Args):
    account_id: str = Field(min_length=1)


@REGISTRY.command("key.list", ListKeys, mutating=False, summary="List an account's keys (prefixes only).")
def list_keys(args: ListKeys, context: AdminContext) -> dict[str, Any]:
    if context.services.accounts.get_account(args.account_id) is None:
        raise not_found("account", args.account_id)
    rows = []
    for key in context.services.accounts.list_keys(args.account_id):
        data = key.to_json()
        rows.append({k: data[k] for k in ("key_id", "name", "prefix", "status", "remaining_usd", "expires_at")})
        rows[-1]["guards"] = data["guards"]
    return {"account_id": args.account_id, "keys": rows}


class UpdateKey(_Guards):
    key_id: str = Field(min_length=1)
    name: str | None = Field(default=None, max_length=200)
    limit_usd: LimitUsd | None = Field(
        default=None, description='What the key may still spend ("unlimited": no own limit).'
    )
    expires_at: int | Literal["never"] | None = Field(default=None, description='Epoch seconds, or "never".')
    models: list[str] | None = Field(default=None, description='Model allow-list ("*": every model).')
    cidrs: list[str] | None = Field(default=None, description='IP/CIDR allow-list ("*": any address).')

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        return _valid_cidrs(value)

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value <= 0:
            raise ValueError("must be a positive epoch time in seconds, or 'never'")
        return value


def _allow_list(value: list[str] | None) -> tuple[str, ...] | None | Any:
    if value is None:
        return KEEP
    return None if value == ["*"] else tuple(value)


@REGISTRY.command("key.update", UpdateKey, summary="Change a key's name, limit, expiry, allow-lists or guards.")
def update_key(args: UpdateKey, context: AdminContext) -> dict[str, Any]:
    limit: Any = KEEP
    if args.limit_usd is not None:
        limit = None if args.limit_usd == "unlimited" else micros_of(args.limit_usd)
    expiry: Any = KEEP
    if args.expires_at is not None:
        expiry = None if args.expires_at == "never" else args.expires_at
    changes = KeyChanges(
        name=KEEP if args.name is None else args.name,
        remaining=limit,
        expires_at=expiry,
        models=_allow_list(args.models),
        cidrs=_allow_list(args.cidrs),
        **args.changes(),
    )
    try:
        key = context.services.accounts.update_key(args.key_id, changes, now=context.clock_ms())
    except NotFoundError as exc:
        raise not_found("key", args.key_id) from exc
    context.services.keys.forget(key.key_hash)
    return key.to_json()


@REGISTRY.command("key.rotate", KeyRef, summary="Give a key a new secret (same id, settings and history).")
def rotate_key(args: KeyRef, context: AdminContext) -> dict[str, Any]:
    secret = generate_key()
    try:
        old, new = context.services.accounts.rotate_key(args.key_id, hash_key(secret), display_prefix(secret))
    except NotFoundError as exc:
        raise not_found("key", args.key_id) from exc
    except ValueError as exc:
        raise Conflict(f"Key {args.key_id} cannot be rotated: {exc}.") from exc
    context.services.keys.forget(old.key_hash)
    return {"key": secret, **new.to_json(), "previous_prefix": old.prefix}


class KeySettingsArgs(Args):
    key_id: str = Field(min_length=1)
    usage_scope: Literal["key", "account"] | None = Field(
        default=None, description='"account": the key may read its whole account\'s usage records; "key": its own.'
    )


@REGISTRY.command("key.settings", KeySettingsArgs, summary="Change a key's open settings (e.g. its usage-view scope).")
def key_settings(args: KeySettingsArgs, context: AdminContext) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.usage_scope is not None:
        changes["usage_scope"] = None if args.usage_scope == "key" else args.usage_scope
    try:
        key = context.services.accounts.update_key(args.key_id, KeyChanges(settings=changes), now=context.clock_ms())
    except NotFoundError as exc:
        raise not_found("key", args.key_id) from exc
    context.services.keys.forget(key.key_hash)
    return {"key_id": key.key_id, "settings": key.settings}
