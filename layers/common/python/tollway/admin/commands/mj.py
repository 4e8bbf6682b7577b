"""mj.* — the Midjourney relay: the scheduled sweep, the operator's MJ options, MJ channels, and the
MJ settings of keys and groups (docs/midjourney.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, HttpUrl

from tollway.admin.commands._common import ChannelKey, not_found
from tollway.admin.commands.channels import TaskChannelArgs, add_new_channel
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.config.model import Group
from tollway.errors import TollwayError
from tollway.mj.actions import ACTIONS
from tollway.mj.runtime import MjRuntime, runtime_for
from tollway.mj.sweep import sweep_tasks

ModeName = Literal["fast", "relax", "turbo"]
ImageModeName = Literal["relay", "origin", "proxy"]


def _runtime(context: AdminContext) -> MjRuntime:
    if context.services.mj is None:
        raise TollwayError("These services have no Midjourney stores.", code="unavailable")
    return runtime_for(context.services)


class Sweep(Args):
    limit: int = Field(default=1000, ge=1, le=10_000, description="Open tasks looked at in this run.")


@REGISTRY.command("mj.sweep", Sweep, summary="Poll unfinished MJ and Suno tasks, time out and refund stuck ones.")
def sweep(args: Sweep, context: AdminContext) -> dict[str, Any]:
    return sweep_tasks(_runtime(context), context.clock_ms(), limit=args.limit).to_json()


class Settings(Args):
    default_mode: ModeName | None = None
    default_image_mode: ImageModeName | None = None
    image_proxy_base: str | None = Field(default=None, description='Proxy-mode image host ("" to unset).')
    public_base_url: str | None = Field(default=None, description='Public URL of this API ("" to unset).')
    task_timeout_s: float | None = Field(default=None, ge=60, le=86_400)
    refresh_after_s: float | None = Field(default=None, ge=0, le=3600)
    image_link_ttl_s: int | None = Field(default=None, ge=60, le=90 * 86400)
    notify_enabled: bool | None = Field(default=None, description="Deliver clients' notifyHook callbacks.")
    reset: bool = Field(default=False, description="Back to the deployment's defaults first.")


@REGISTRY.command("mj.settings", Settings, summary="Show or change the Midjourney options (no option: show).")
def settings(args: Settings, context: AdminContext) -> dict[str, Any]:
    rt = _runtime(context)
    options = rt.options_store
    changes = args.model_dump(exclude={"reset"}, exclude_none=True)
    if changes or args.reset:
        stored = {} if args.reset else options.get()
        for name, value in changes.items():
            if value == "":
                stored.pop(name, None)
            else:
                stored[name] = value
        options.put(stored)
        rt.forget_options()
    return rt.options().to_json()


class TaskRef(Args):
    task_id: str = Field(pattern=r"^\d{1,32}$")


@REGISTRY.command("mj.task", TaskRef, mutating=False, summary="Show a Midjourney task as tollway keeps it.")
def task(args: TaskRef, context: AdminContext) -> dict[str, Any]:
    found = _runtime(context).tasks.get(args.task_id)
    if found is None:
        raise not_found("task", args.task_id)
    out = found.to_json()
    out.pop("key_hash", None)
    return out


_ALL_ACTIONS = sorted({spec.base_key for spec in ACTIONS.values()})


class AddChannel(TaskChannelArgs):
    base_url: HttpUrl = Field(description="The MJ-Proxy server's root (…/mj is appended).")
    api_key: ChannelKey | None = Field(default=None, description="Its mj-api-secret; kept in the secret store.")
    models: list[str] = Field(default_factory=lambda: list(_ALL_ACTIONS), min_length=1)
    modes: list[ModeName] | None = Field(default=None, description="Speed modes it serves (default: all).")
    mode_path: bool = Field(default=False, description="Send /mj-<mode>/mj/… (Plus proxies select by it).")
    mode_flags: bool = Field(default=True, description="Put the billed --<mode> flag in imagine prompts.")
    mode_filter: bool = Field(default=False, description="Send accountFilter.modes (Plus proxies).")


@REGISTRY.command("mj.add-channel", AddChannel, summary="Add a Midjourney-Proxy upstream channel.")
def add_channel(args: AddChannel, context: AdminContext) -> dict[str, Any]:
    settings: dict[str, Any] = {"mode_path": args.mode_path, "mode_flags": args.mode_flags}
    if args.mode_filter:
        settings["mode_filter"] = True
    if args.modes is not None:
        settings["modes"] = list(args.modes)
    return add_new_channel(context, args, type="midjourney", models=args.models, settings=settings)


class KeySettings(Args):
    key_id: str = Field(min_length=1)
    mode: ModeName | Literal[""] | None = Field(default=None, description='Default speed mode ("" to unset).')
    image_mode: ImageModeName | Literal[""] | None = Field(default=None, description='Default image mode ("").')


@REGISTRY.command("mj.key-settings", KeySettings, summary="Set a key's default Midjourney speed and image mode.")
def key_settings(args: KeySettings, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    key = svc.accounts.get_key_by_id(args.key_id)
    if key is None or svc.mj is None:
        raise not_found("key", args.key_id)
    changes: dict[str, Any] = {}
    for name, value in (("mj_mode", args.mode), ("mj_image_mode", args.image_mode)):
        if value is not None:
            changes[name] = value or None  # "" removes the default
    try:
        new = svc.mj.key_settings.update(key.key_hash, changes) if changes else key.settings
    except LookupError as exc:
        raise not_found("key", args.key_id) from exc
    svc.keys.forget(key.key_hash)
    return {"key_id": key.key_id, "settings": new}


class GroupModes(Args):
    group: str = Field(min_length=1, max_length=100)
    modes: list[ModeName] | None = Field(default=None, description="Speed modes the group may use; omit: all.")


@REGISTRY.command("mj.group-modes", GroupModes, summary="Set the Midjourney speed modes a group may use.")
def group_modes(args: GroupModes, context: AdminContext) -> dict[str, Any]:
    config = context.services.config
    group = config.list_groups().get(args.group) or Group(name=args.group)
    settings = dict(group.settings)
    if args.modes is None:
        settings.pop("mj_modes", None)
    else:
        settings["mj_modes"] = list(dict.fromkeys(args.modes))
    updated = Group(name=group.name, ratio=group.ratio, settings=settings)
    config.put_group(updated)
    context.services.catalog.invalidate()
    return updated.to_json()
