"""console.* — the customer console's switches (sign-up, verification, branding) and invite codes."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.console.options import ConsoleOptions, SignupMode, load_options, save_options
from tollway.console.store import console_store
from tollway.errors import InvalidArguments


class ConsoleSettings(Args):
    signup: SignupMode | None = Field(default=None, description='"open", "closed" or "invite" (invite code only).')
    email_verification: bool | None = Field(default=None, description="New sign-ups confirm their address by mail.")
    site_name: str | None = Field(default=None, max_length=80, description="Name in the page header and titles.")
    logo_url: str | None = Field(default=None, max_length=500, description='https URL ("" removes it).')
    footer: str | None = Field(default=None, max_length=500, description="Footer notice on every page.")
    currency_symbol: str | None = Field(default=None, max_length=8, description='Display currency, e.g. "¥".')
    currency_rate: str | None = Field(default=None, description='How many of it one USD shows as, e.g. "7.2".')


@REGISTRY.command("console.settings", ConsoleSettings, summary="Show or change the customer console's switches.")
def console_settings(args: ConsoleSettings, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    current = load_options(svc.config, svc.settings)
    changes = args.model_dump(exclude_none=True)
    if not changes:
        return current.public()
    try:
        updated = ConsoleOptions.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        raise InvalidArguments(f"Invalid console settings: {exc.errors()[0]['msg']}") from exc
    save_options(svc.config, updated)
    return updated.public()


class CreateInvites(Args):
    count: int = Field(default=1, ge=1, le=500)


@REGISTRY.command("console.invite", CreateInvites, summary="Create sign-up invite codes (shown once; single use).")
def create_invites(args: CreateInvites, context: AdminContext) -> dict[str, Any]:
    codes = console_store(context.services).create_invites(args.count, now=context.clock_ms(), created_by=context.actor)
    return {"invites": codes}
