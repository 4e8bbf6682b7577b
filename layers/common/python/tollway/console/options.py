"""The operator's console options: who may sign up, e-mail verification, branding, display currency.

Stored as the config table's state document ``console`` (``tollway admin console settings``) over
defaults from settings, so an operator turns sign-up on or off without a deploy.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tollway.config.ports import ConfigStore
from tollway.settings import Settings

__all__ = ["STATE_NAME", "ConsoleOptions", "SignupMode", "load_options", "save_options"]

STATE_NAME = "console"
SignupMode = Literal["open", "closed", "invite"]


class ConsoleOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    signup: SignupMode = "open"
    email_verification: bool = False
    site_name: str = Field(default="tollway", min_length=1, max_length=80)
    logo_url: str | None = Field(default=None, max_length=500)
    footer: str = Field(default="", max_length=500)
    # "¥2 = $1": the symbol and how many of that currency one US dollar shows as (display only).
    currency_symbol: str | None = Field(default=None, max_length=8)
    currency_rate: str | None = None

    @field_validator("logo_url")
    @classmethod
    def _https_logo(cls, value: str | None) -> str | None:
        # Only https (or a same-origin path): the console's CSP allows images from 'self' and https:.
        if value and not (value.startswith("https://") or (value.startswith("/") and not value.startswith("//"))):
            raise ValueError("must be an https:// URL or a path on this site")
        return value or None

    @field_validator("currency_rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            rate = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError("must be a number such as 7.2") from exc
        if not rate.is_finite() or rate <= 0 or rate > 1_000_000:
            raise ValueError("must be a positive number")
        return format(rate.normalize(), "f")

    def public(self) -> dict[str, Any]:
        """What every visitor's browser is told (branding and whether sign-up is open)."""
        return self.model_dump(mode="json")


def load_options(config: ConfigStore, settings: Settings) -> ConsoleOptions:
    """The options in force: the stored document over the deployment's defaults."""
    base: dict[str, Any] = {
        "signup": settings.console_signup,
        "email_verification": settings.console_email_verification,
        "site_name": settings.console_site_name,
    }
    stored = config.get_state(STATE_NAME) or {}
    return ConsoleOptions.model_validate({**base, **stored})


def save_options(config: ConfigStore, options: ConsoleOptions) -> None:
    config.put_state(STATE_NAME, options.model_dump(mode="json"))
