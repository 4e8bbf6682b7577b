"""suno.* — the Suno relay: Suno channels and tasks (docs/suno.md).

Suno tasks share the Midjourney task machinery: ``mj.sweep`` polls, times out and refunds them too, and
``mj.settings --task-timeout-s / --refresh-after-s`` applies to them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, HttpUrl

from tollway.admin.commands._common import ChannelKey, not_found
from tollway.admin.commands.channels import TaskChannelArgs, add_new_channel
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.suno.model import KIND, is_task_id

SunoModel = Literal["suno_music", "suno_lyrics"]
_ALL_MODELS: tuple[SunoModel, ...] = ("suno_lyrics", "suno_music")


class AddChannel(TaskChannelArgs):
    base_url: HttpUrl = Field(description="The Suno-API server's root (…/suno is appended).")
    api_key: ChannelKey | None = Field(default=None, description="Its bearer key; kept in the secret store.")
    models: list[SunoModel] = Field(default_factory=lambda: list(_ALL_MODELS), min_length=1)


@REGISTRY.command("suno.add-channel", AddChannel, summary="Add a Suno-API upstream channel.")
def add_channel(args: AddChannel, context: AdminContext) -> dict[str, Any]:
    return add_new_channel(context, args, type=KIND, models=list(dict.fromkeys(args.models)))


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
