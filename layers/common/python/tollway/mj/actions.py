"""What a request asks Midjourney to do: the action, whether it needs a parent task, and its price key.

Price keys follow the seed site's three types: type 1 is priced by speed mode
(``mj_<mode>_<name>``, e.g. ``mj_fast_imagine``), type 2 at one fixed price (``mj_<name>``), type 3 is
free (``mj_modal``; fetch, list and seed are not submits at all). A button is recognised from its
``customId`` (``MJ::JOB::upsample::1::<hash>``…), following new-api's parsing rule but keeping U1–U4
(type 2) apart from the 2x/4x upscalers (type 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ACTIONS",
    "ActionError",
    "ActionSpec",
    "action_of_change",
    "action_of_custom_id",
    "parse_simple_change",
]


class ActionError(ValueError):
    """The request names no action tollway can relay (answered with envelope code 4)."""


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: str  # the task's ``action`` as clients see it
    price_name: str  # the price key is ``mj_[<mode>_]<price_name>``
    by_mode: bool  # type 1: the price depends on the speed mode
    modal: bool = False  # the upstream answers code 21 and waits for /submit/modal

    def price_keys(self, mode: str) -> tuple[str, ...]:
        """Keys to look up, most specific first."""
        base = f"mj_{self.price_name}"
        return (f"mj_{mode}_{self.price_name}", base) if self.by_mode else (base,)

    @property
    def base_key(self) -> str:
        """The name channels list (and keys' model allow-lists use) for this action."""
        return f"mj_{self.price_name}"


def _spec(action: str, price_name: str, by_mode: bool, modal: bool = False) -> ActionSpec:
    return ActionSpec(action, price_name, by_mode, modal)


ACTIONS: dict[str, ActionSpec] = {
    s.action: s
    for s in (
        # type 1: priced by mode
        _spec("IMAGINE", "imagine", True),
        _spec("VARIATION", "variation", True),
        _spec("HIGH_VARIATION", "variation", True),
        _spec("LOW_VARIATION", "variation", True),
        _spec("REROLL", "reroll", True),
        _spec("ZOOM", "zoom", True),
        _spec("CUSTOM_ZOOM", "zoom", True, modal=True),
        _spec("PAN", "pan", True),
        _spec("BLEND", "blend", True),
        _spec("INPAINT", "inpaint", True, modal=True),
        _spec("UPSCALE_HD", "upscale_hd", True),
        _spec("PIC_READER", "pic_reader", True),
        _spec("VIDEO", "video", True),
        _spec("EDITS", "edits", True),
        # type 2: one price
        _spec("UPSCALE", "upscale", False),
        _spec("DESCRIBE", "describe", False),
        _spec("PIC_READER_RETRY", "pic_reader_retry", False),
        _spec("SWAP_FACE", "swap_face", False),
        _spec("SHORTEN", "shorten", False),
        _spec("UPLOAD", "upload", False),
        # type 3: free (priced at $0 in the shipped file, so an operator may still charge for it)
        _spec("MODAL", "modal", False),
    )
}

_PAN = re.compile(r"^pan_(left|right|up|down)$")


def action_of_custom_id(custom_id: str) -> ActionSpec:
    """The action a button press performs.

    Raises:
        ActionError: not a Midjourney button tollway can relay.
    """
    parts = custom_id.split("::")
    if len(parts) < 2 or parts[0] != "MJ":
        raise ActionError(f"unknown_action: {custom_id[:120]!r} is not a Midjourney button")
    name = parts[2] if parts[1].upper() == "JOB" and len(parts) > 2 else parts[1]
    if name == "upsample":
        return ACTIONS["UPSCALE"]
    if "upsample" in name:
        return ACTIONS["UPSCALE_HD"]
    known = {
        "variation": "VARIATION",
        "high_variation": "HIGH_VARIATION",
        "low_variation": "LOW_VARIATION",
        "reroll": "REROLL",
        "Outpaint": "ZOOM",
        "CustomZoom": "CUSTOM_ZOOM",
        "Inpaint": "INPAINT",
        "PicReader": "PIC_READER",
    }
    if name in known:
        return ACTIONS[known[name]]
    if _PAN.match(name):
        return ACTIONS["PAN"]
    if name.startswith("animate_"):
        return ACTIONS["VIDEO"]
    if name == "Picread" and parts[-1] == "Retry":
        return ACTIONS["PIC_READER_RETRY"]
    raise ActionError(f"unknown_action: the button {custom_id[:120]!r} cannot be relayed")


def action_of_change(action: str, index: int | None) -> ActionSpec:
    """``/submit/change``: UPSCALE/VARIATION need index 1–4; REROLL takes any (clients send 1).

    Raises:
        ActionError: an unknown action or a bad index.
    """
    name = action.upper()
    if name not in ("UPSCALE", "VARIATION", "REROLL"):
        raise ActionError("action must be one of UPSCALE, VARIATION, REROLL")
    if name != "REROLL" and (index is None or not 1 <= index <= 4):
        raise ActionError("index must be 1 to 4")
    return ACTIONS[name]


_SIMPLE = re.compile(r"^\s*(\d{1,32})\s+([UuVv])([1-4])\s*$|^\s*(\d{1,32})\s+([Rr])\s*$")


def parse_simple_change(content: str) -> tuple[str, str, int]:
    """``"<task id> U2"`` → ``(task id, "UPSCALE", 2)``; ``"<id> R"`` → REROLL with index 1.

    Raises:
        ActionError: not of that form.
    """
    match = _SIMPLE.match(content or "")
    if match is None:
        raise ActionError('content must be "<task id> U1-U4", "<task id> V1-V4" or "<task id> R"')
    if match.group(1) is not None:
        kind = "UPSCALE" if match.group(2).upper() == "U" else "VARIATION"
        return match.group(1), kind, int(match.group(3))
    return match.group(4), "REROLL", 1
