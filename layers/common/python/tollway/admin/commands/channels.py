"""channel.* — upstreams. The key goes to the secret store and is never shown again."""

from __future__ import annotations

import logging
from typing import Any, Literal

import anyio
from pydantic import Field, HttpUrl, SecretStr

from tollway import channel_probe
from tollway.admin.commands._common import ChannelKey, not_found
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.bedrock.channel import bedrock_settings_problem, default_base_url
from tollway.config.model import Channel, ChannelStatus
from tollway.errors import Conflict, InvalidArguments
from tollway.ids import channel_id
from tollway.secrets_cache import channel_secret_name

log = logging.getLogger(__name__)


class AddChannel(Args):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["openai", "azure", "mock", "anthropic", "bedrock"] = "openai"
    base_url: HttpUrl | None = Field(default=None, description="Required, except for bedrock (from its region).")
    api_key: ChannelKey | None = Field(default=None, description="Stored in the secret store, never shown again.")
    models: list[str] = Field(min_length=1)
    groups: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    model_map: dict[str, str] = Field(default_factory=dict, description="Requested name → upstream name.")
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=60)
    read_timeout_s: float | None = Field(default=None, gt=0, le=900)
    headers: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    channel_id: str | None = Field(default=None, pattern=r"^[a-z0-9_\-]{2,64}$")


class TaskChannelArgs(Args):
    """What every task upstream's add command takes (``mj.add-channel``, ``suno.add-channel``)."""

    name: str = Field(min_length=1, max_length=200)
    base_url: HttpUrl
    api_key: ChannelKey | None = Field(default=None, description="Its key; kept in the secret store.")
    groups: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=60)
    read_timeout_s: float | None = Field(default=None, gt=0, le=900)
    headers: dict[str, str] = Field(default_factory=dict)
    channel_id: str | None = Field(default=None, pattern=r"^[a-z0-9_\-]{2,64}$")


@REGISTRY.command("channel.add", AddChannel, summary="Add an upstream channel (its key goes to the secret store).")
def add_channel(args: AddChannel, context: AdminContext) -> dict[str, Any]:
    base_url = str(args.base_url).rstrip("/") if args.base_url is not None else None
    if args.type == "bedrock":
        problem = bedrock_settings_problem(args.settings, args.api_key is not None)
        if problem:
            raise InvalidArguments(problem)
        base_url = base_url or default_base_url(args.settings)
    elif base_url is None:
        raise InvalidArguments("base_url is required for this channel type.")
    return add_new_channel(
        context,
        args,
        type=args.type,
        base_url=base_url,
        models=args.models,
        model_map=args.model_map,
        settings=args.settings,
    )


def add_new_channel(
    context: AdminContext,
    args: AddChannel | TaskChannelArgs,
    *,
    type: str,
    models: list[str],
    base_url: str | None = None,
    model_map: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a new enabled channel from an add command's arguments, store it (compensated); its public view.
    ``base_url`` overrides the arguments' (a bedrock channel's comes from its region)."""
    now = context.clock_ms()
    channel = Channel(
        channel_id=args.channel_id or channel_id(),
        name=args.name,
        type=type,
        base_url=base_url or str(args.base_url).rstrip("/"),
        models=tuple(models),
        groups=tuple(args.groups),
        model_map=dict(model_map or {}),
        priority=args.priority,
        weight=args.weight,
        status=ChannelStatus.ENABLED,
        connect_timeout_s=args.connect_timeout_s,
        read_timeout_s=args.read_timeout_s,
        headers=dict(args.headers),
        settings=dict(settings or {}),
        has_key=args.api_key is not None,
        created_at=now,
        updated_at=now,
    )
    store_new_channel(context, channel, args.api_key)
    return public(channel)


def store_new_channel(context: AdminContext, channel: Channel, api_key: SecretStr | None) -> None:
    """Write a new channel's secret and record, compensated (shared by channel.add, mj.add, suno.add).

    Two stores: the secret first, then the record; if the record fails, the secret is removed again,
    so nothing is left half-applied.
    """
    svc = context.services
    if svc.config.get_channel(channel.channel_id) is not None:
        raise Conflict(f"Channel {channel.channel_id} already exists.")
    if api_key is not None:
        svc.channel_secrets.put(channel.channel_id, api_key.get_secret_value())
    try:
        # create=True: the record is written only if no channel with this id exists (a race with another add).
        svc.config.put_channel(channel, create=True)
    except Exception as exc:
        if api_key is not None:
            try:
                svc.channel_secrets.delete(channel.channel_id)
            except Exception:
                log.exception("could not remove the secret of channel %s after a failed add", channel.channel_id)
        if isinstance(exc, ValueError):
            raise Conflict(f"Channel {channel.channel_id} already exists.") from exc
        raise
    svc.catalog.invalidate()


def public(channel: Channel) -> dict[str, Any]:
    """A channel as listings show it: extra headers by name only (they may carry credentials)."""
    data = channel.to_json()
    data["headers"] = {name: "[set]" for name in channel.headers}
    return data


class NoArgs(Args):
    pass


@REGISTRY.command("channel.list", NoArgs, mutating=False, summary="List channels with their status.")
def list_channels(args: NoArgs, context: AdminContext) -> list[dict[str, Any]]:
    return [public(c) for c in context.services.config.list_channels()]


class UpdateChannel(Args):
    channel_id: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: HttpUrl | None = None
    api_key: ChannelKey | None = Field(default=None, description="A new upstream key (secret store only).")
    models: list[str] | None = Field(default=None, min_length=1)
    groups: list[str] | None = Field(default=None, min_length=1, description="Groups that may use the channel.")
    model_map: dict[str, str] | None = None
    priority: int | None = None
    weight: int | None = Field(default=None, ge=0)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=60)
    read_timeout_s: float | None = Field(default=None, gt=0, le=900)
    headers: dict[str, str] | None = None
    settings: dict[str, Any] | None = None


@REGISTRY.command("channel.update", UpdateChannel, summary="Change a channel (a new key goes to the secret store).")
def update_channel(args: UpdateChannel, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    channel = svc.config.get_channel(args.channel_id)
    if channel is None:
        raise not_found("channel", args.channel_id)
    changes: dict[str, Any] = {
        k: v for k, v in args.model_dump(exclude={"channel_id", "api_key", "base_url"}).items() if v is not None
    }
    for name in ("models", "groups"):
        if name in changes:
            changes[name] = tuple(changes[name])
    if args.base_url is not None:
        changes["base_url"] = str(args.base_url).rstrip("/")
    if args.api_key is not None:
        changes["has_key"] = True
    updated = channel.replace(**changes, updated_at=context.clock_ms())
    if updated.type == "bedrock":
        problem = bedrock_settings_problem(updated.settings, args.api_key is not None)
        if problem:
            raise InvalidArguments(problem)
    # Two stores, compensated: the new secret first; if the record cannot be written, the old secret
    # (or none) is put back, so the channel never runs with a key its record does not describe.
    name = channel_secret_name(svc.settings.secrets_prefix, channel.channel_id)
    previous = svc.secrets.get(name) if args.api_key is not None else None
    if args.api_key is not None:
        svc.channel_secrets.put(channel.channel_id, args.api_key.get_secret_value())
    try:
        svc.config.put_channel(updated, create=False)
    except Exception as exc:
        if args.api_key is not None:
            _restore_secret(context, channel.channel_id, previous)
        if isinstance(exc, LookupError):
            raise not_found("channel", args.channel_id) from exc
        raise
    svc.catalog.invalidate()
    return public(updated)


def _restore_secret(context: AdminContext, ident: str, previous: str | None) -> None:
    try:
        if previous is None:
            context.services.channel_secrets.delete(ident)
        else:
            context.services.channel_secrets.put(ident, previous)
    except Exception:
        log.exception("could not restore the secret of channel %s after a failed update", ident)


class ChannelRef(Args):
    channel_id: str = Field(min_length=1)


def _status(args: ChannelRef, context: AdminContext, status: ChannelStatus, reason: str | None) -> dict[str, Any]:
    if not context.services.config.set_channel_status(args.channel_id, status, reason):
        raise not_found("channel", args.channel_id)
    context.services.catalog.invalidate()
    channel = context.services.config.get_channel(args.channel_id)
    if channel is None:  # pragma: no cover - removed concurrently
        raise not_found("channel", args.channel_id)
    return public(channel)


@REGISTRY.command("channel.enable", ChannelRef, summary="Enable a channel (also one disabled automatically).")
def enable_channel(args: ChannelRef, context: AdminContext) -> dict[str, Any]:
    return _status(args, context, ChannelStatus.ENABLED, None)


@REGISTRY.command("channel.disable", ChannelRef, summary="Disable a channel.")
def disable_channel(args: ChannelRef, context: AdminContext) -> dict[str, Any]:
    return _status(args, context, ChannelStatus.DISABLED, f"disabled by {context.actor}")


@REGISTRY.command("channel.remove", ChannelRef, summary="Remove a channel and its key.")
def remove_channel(args: ChannelRef, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    if not svc.config.delete_channel(args.channel_id):
        raise not_found("channel", args.channel_id)
    svc.channel_secrets.delete(args.channel_id)
    svc.catalog.invalidate()
    return {"channel_id": args.channel_id, "removed": True}


class ProbeChannel(Args):
    channel_id: str = Field(min_length=1)
    model: str | None = Field(default=None, description="A model the channel serves (default: its first).")


@REGISTRY.command("channel.test", ProbeChannel, mutating=False, summary="One real minimal call; shows the latency.")
def probe_channel(args: ProbeChannel, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    channel = svc.config.get_channel(args.channel_id)
    if channel is None:
        raise not_found("channel", args.channel_id)
    model = args.model or channel.models[0]
    if model not in channel.models:
        raise InvalidArguments(f"Channel {channel.channel_id} does not serve {model!r}.")
    price = svc.catalog.get().price(model)
    secret = svc.channel_secrets.get(channel.channel_id)

    async def run() -> dict[str, Any]:
        async with channel_probe.make_client(svc.settings) as client:
            return await channel_probe.probe_call(
                client, channel, secret, model, reasoning=price is not None and price.reasoning
            )

    result = anyio.run(run)
    result["status_of_channel"] = channel.status.value
    return result


@REGISTRY.command("channel.balance", ChannelRef, mutating=False, summary="The upstream's balance, where exposed.")
def channel_balance(args: ChannelRef, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    channel = svc.config.get_channel(args.channel_id)
    if channel is None:
        raise not_found("channel", args.channel_id)
    secret = svc.channel_secrets.get(channel.channel_id)

    async def run() -> dict[str, Any]:
        async with channel_probe.make_client(svc.settings) as client:
            return await channel_probe.balance_of(client, channel, secret)

    return anyio.run(run)
