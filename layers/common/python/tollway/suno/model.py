"""Suno's actions, their price keys, and tollway's Suno task ids."""

from __future__ import annotations

import re
import secrets
from enum import StrEnum

__all__ = ["KIND", "PRICE_KEYS", "SunoAction", "action_of", "is_task_id", "mint_task_id"]

#: ``Task.kind`` of a Suno task.
KIND = "suno"

_TASK_ID = re.compile(r"^task_[0-9a-f]{32}$")


class SunoAction(StrEnum):
    MUSIC = "MUSIC"
    LYRICS = "LYRICS"


#: The price key (and usage-record model) of each action: new-api's model names.
PRICE_KEYS = {SunoAction.MUSIC: "suno_music", SunoAction.LYRICS: "suno_lyrics"}


def action_of(text: str) -> SunoAction | None:
    """``music`` / ``LYRICS`` (any case) → the action; anything else → None."""
    try:
        return SunoAction(text.strip().upper())
    except ValueError:
        return None


def mint_task_id() -> str:
    """A client-visible task id, new-api's newer form: ``task_`` + 32 random characters.

    Never digits only, so a Suno id can never be taken for a Midjourney id (which are) by any route.
    """
    return f"task_{secrets.token_hex(16)}"


def is_task_id(text: str) -> bool:
    return bool(_TASK_ID.match(text))
