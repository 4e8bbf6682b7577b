"""group.* — customer groups: a price ratio each (``vip`` 0.8 pays 80%); which channels a group may
use is each channel's ``groups`` list (``channel add/update --groups``). Groups differ in price and
in channels. The default group (``settings.default_group``) exists without a record, at ratio 1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from tollway.admin.commands._common import not_found
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.config.model import Group
from tollway.errors import Conflict


class SetGroup(Args):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    ratio: Decimal = Field(default=Decimal(1), gt=0, le=100, description="Price multiplier (0.8 = 20% off).")
    description: str | None = Field(default=None, max_length=500)


@REGISTRY.command("group.set", SetGroup, summary="Create or change a group and its price ratio.")
def set_group(args: SetGroup, context: AdminContext) -> dict[str, Any]:
    # Keep settings other commands own (e.g. the Midjourney modes a group may use).
    existing = context.services.config.list_groups().get(args.name)
    settings: dict[str, Any] = dict(existing.settings) if existing is not None else {}
    if args.description is not None:
        settings["description"] = args.description
    group = Group(name=args.name, ratio=args.ratio, settings=settings)
    context.services.config.put_group(group)
    context.services.catalog.invalidate()
    return _row(group, context)


def _row(group: Group, context: AdminContext) -> dict[str, Any]:
    channels = [c.channel_id for c in context.services.config.list_channels() if group.name in c.groups]
    return {**group.to_json(), "channels": channels}


class NoArgs(Args):
    pass


@REGISTRY.command("group.list", NoArgs, mutating=False, summary="List groups, their ratios and channels.")
def list_groups(args: NoArgs, context: AdminContext) -> list[dict[str, Any]]:
    groups = dict(context.services.config.list_groups())
    default = context.services.settings.default_group
    groups.setdefault(default, Group(name=default))
    return [_row(groups[name], context) for name in sorted(groups)]


class GroupRef(Args):
    name: str = Field(min_length=1)


@REGISTRY.command("group.remove", GroupRef, summary="Remove a group (its accounts then pay ratio 1).")
def remove_group(args: GroupRef, context: AdminContext) -> dict[str, Any]:
    if args.name == context.services.settings.default_group:
        raise Conflict("The default group cannot be removed.")
    if not context.services.config.delete_group(args.name):
        raise not_found("group", args.name)
    context.services.catalog.invalidate()
    still = [c.channel_id for c in context.services.config.list_channels() if args.name in c.groups]
    return {"name": args.name, "removed": True, "channels_still_listing_it": still}
