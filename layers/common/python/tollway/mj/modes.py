"""Speed modes and image-URL modes: where a request names them, and which one wins.

Path forms (every one also with the doubled ``/mj/mj/…``): ``/mj``, ``/mj-<mode>/mj``,
``/mj-<mode>-<img>/mj``, ``/mj-<img>/mj`` (either token order tolerated), with ``<mode>`` ∈ fast, relax,
turbo and ``<img>`` ∈ relay, origin, proxy. Prompt flags ``--fast/--relax/--turbo`` name a mode too.

Precedence (speed): the request (path prefix, else prompt flag; for a follow-up, else the parent's
mode) > the key's default > the operator's default. Image mode: path > key default > operator default.
A mode the key's group may not use is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tollway.mj.model import ImageMode, Mode

__all__ = [
    "ModeError",
    "PathModes",
    "apply_mode_flag",
    "mode_of_prompt",
    "parse_prefix",
    "resolve_image_mode",
    "resolve_mode",
]

_FLAG = re.compile(r"(?<!\S)--(fast|relax|turbo)(?!\S)", re.IGNORECASE)


class ModeError(ValueError):
    """A mode the request may not use (answered with envelope code 4)."""


@dataclass(frozen=True, slots=True)
class PathModes:
    mode: Mode | None = None
    image_mode: ImageMode | None = None


def parse_prefix(segment: str) -> PathModes | None:
    """``"mj-turbo-origin"`` → turbo + origin; ``"mj"`` → neither; not an MJ prefix → None."""
    tokens = segment.lower().split("-")
    if not tokens or tokens[0] != "mj":
        return None
    mode: Mode | None = None
    image: ImageMode | None = None
    for token in tokens[1:]:
        if token in Mode.__members__.values() and mode is None:
            mode = Mode(token)
        elif token in ImageMode.__members__.values() and image is None:
            image = ImageMode(token)
        else:
            return None
    return PathModes(mode, image)


def mode_of_prompt(prompt: str) -> Mode | None:
    """The last speed flag in a prompt (Midjourney itself lets the last one win)."""
    found = _FLAG.findall(prompt or "")
    return Mode(found[-1].lower()) if found else None


def apply_mode_flag(prompt: str, mode: Mode) -> str:
    """The prompt with its speed flags replaced by the one tollway bills, so an upstream that reads
    flags runs the task at the speed the customer pays for."""
    stripped = _FLAG.sub("", prompt).strip()
    stripped = re.sub(r"\s{2,}", " ", stripped)
    return f"{stripped} --{mode.value}".strip()


def _setting(value: object, kind: type[Mode] | type[ImageMode]) -> Mode | ImageMode | None:
    if isinstance(value, str) and value.lower() in kind.__members__.values():
        return kind(value.lower())
    return None


def resolve_mode(
    *,
    path: Mode | None,
    prompt: str,
    parent: Mode | None,
    key_default: object,
    operator_default: str,
    allowed: list[str] | None,
) -> Mode:
    """The speed the task runs and is billed at.

    Raises:
        ModeError: the group may not use the resolved mode.
    """
    chosen = path or mode_of_prompt(prompt) or parent
    if chosen is None:
        key_mode = _setting(key_default, Mode)
        chosen = key_mode if isinstance(key_mode, Mode) else Mode(operator_default)
    if allowed is not None and chosen.value not in allowed:
        permitted = ", ".join(allowed) or "none"
        raise ModeError(f"The {chosen.value} mode is not available to this account's group (allowed: {permitted}).")
    return chosen


def resolve_image_mode(*, path: ImageMode | None, key_default: object, operator_default: str) -> ImageMode:
    if path is not None:
        return path
    key_mode = _setting(key_default, ImageMode)
    return key_mode if isinstance(key_mode, ImageMode) else ImageMode(operator_default)
