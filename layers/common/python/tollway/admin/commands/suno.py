"""suno.* — the Suno relay: Suno channels and tasks (docs/suno.md).

Suno tasks share the Midjourney task machinery: ``mj.sweep`` polls, times out and refunds them too, and
``mj.settings --task-timeout-s / --refresh-after-s`` applies to them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, HttpUrl

from tollway.admin.commands._common import ChannelKey, not_found
from tollway.admin.commands.channels import public, store_new_channel
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.config.model import Channel, ChannelStatus
from tollway.ids import channel_id
from tollway.suno.model import KIND, is_task_id

SunoModel = Literal["suno_music", "suno_lyrics"]
_ALL_MODELS: tuple[SunoModel, ...] = ("suno_lyrics", "suno_music")


class AddChannel(Args):
    name: str = Field(min_length=1, max_length=200)
    base_url: HttpUrl = Field(description="The Suno-API server's root (…/suno is appended).")
    api_key: ChannelKey | None = Field(default=None, description="Its bearer key; kept in the secret store.")
    models: list[SunoModel] = Field(default_factory=lambda: list(_ALL_MODELS), min_length=1)
    groups: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=60)
    read_timeout_s: float | None = Field(default=None, gt=0, le=900)
    headers: dict[str, str] = Field(default_factory=dict)
    channel_id: str | None = Field(default=None, pattern=r"^[a-z0-9_\-]{2,64}$")


@REGISTRY.command("suno.add-channel", AddChannel, summary="Add a Suno-API upstream channel.")
def add_channel(args: AddChannel, context: AdminContext) -> dict[str, Any]:
    now = context.clock_ms()
    channel = Channel(
        channel_id=args.channel_id or channel_id(),
        name=args.name,
        type=KIND,
        base_url=str(args.base_url).rstrip("/"),
        models=tuple(dict.fromkeys(args.models)),
        groups=tuple(args.groups),
        priority=args.priority,
        weight=args.weight,
        status=ChannelStatus.ENABLED,
        connect_timeout_s=args.connect_timeout_s,
        read_timeout_s=args.read_timeout_s,
        headers=dict(args.headers),
        has_key=args.api_key is not None,
        created_at=now,
        updated_at=now,
    )
    store_new_channel(context, channel, args.api_key)
    return public(channel)


class TaskRef(Args):
    task_id: str = Field(min_length=1, max_length=64)


@REGISTRY.command("suno.task", TaskRef, mutating=False, summary="Show a Suno task as tollway keeps it.")
def task(args: TaskRef, context: AdminContext) -> dict[str, Any]:
    stores = context.services.mj
    found = stores.tasks.get(args.task_id) if stores is not None and is_task_id(args.task_id) else None
    if found is None or found.kind != KIND:
        raise not_found("task", args.task_id)
    out = found.to_json()
    for internal in ("key_hash", "mode", "image_mode", "hook_rank", "hook_attempts", "hook_next_at", "hook_error"):
        out.pop(internal, None)  # Midjourney-only fields, meaningless for a Suno task (and the key's hash)
    for internal in ("image_key", "image_error", "notify_hook", "public_base", "custom_id", "bot_type", "state"):
        out.pop(internal, None)
    return out
