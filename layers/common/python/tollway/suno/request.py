"""A Suno submit as the protocol defines it (new-api's ``SunoSubmitReq``): only these keys survive.

new-api re-serialises a typed struct, so unknown fields (``notify_hook``, ``negative_tags``…) are dropped,
empty values are left out, ``make_instrumental`` is always sent and ``mv`` defaults to ``chirp-v3-0``
for MUSIC. Wrong types are refused (new-api's JSON binding refuses them too) with ``InvalidRequest``:
new-api's wire code ``invalid_request`` (``relay.suno.errors``) with the reason as the message
(``prompt_empty``, ``invalid_action``); the error's ``code`` (the usage record's) is that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollway.errors import InvalidRequest
from tollway.suno.model import SunoAction, action_of

__all__ = ["DEFAULT_MV", "FORWARDED_KEYS", "SunoSubmit", "parse_submit"]

DEFAULT_MV = "chirp-v3-0"
#: Text keys and their length limits (generous: they only bound what a task stores).
_TEXT_KEYS = {
    "gpt_description_prompt": 20_000,
    "prompt": 20_000,
    "mv": 100,
    "title": 1_000,
    "tags": 2_000,
    "task_id": 200,
    "continue_clip_id": 200,
}
#: Every key the upstream may receive.
FORWARDED_KEYS = (*_TEXT_KEYS, "continue_at", "make_instrumental")


def _invalid(message: str, error_code: str = "invalid_request") -> InvalidRequest:
    return InvalidRequest(message, code=error_code)


@dataclass(frozen=True, slots=True)
class SunoSubmit:
    action: SunoAction
    body: dict[str, Any]  # what the upstream gets (``task_id`` still tollway's: the relay maps it)
    prompt: str  # what the task shows as its prompt (the lyrics, or the inspiration text)
    origin_task_id: str | None  # the client's ``task_id``: a continuation of that task


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if len(value) > limit:
        raise _invalid(f"{name} is longer than {limit} characters")
    return value


def parse_submit(action_text: str, data: Any) -> SunoSubmit:
    """The submit ``POST /suno/submit/<action_text>`` with body ``data`` asks for.

    Raises:
        InvalidRequest: an unknown action, a body that is not an object, a wrong type, a LYRICS submit
            without a prompt, or ``continue_clip_id`` without ``task_id``.
    """
    action = action_of(action_text)
    if action is None:
        raise _invalid("invalid_action", "invalid_action")
    if not isinstance(data, dict):
        raise _invalid("the body must be a JSON object")
    body: dict[str, Any] = {}
    for name, limit in _TEXT_KEYS.items():
        value = _text(data, name, limit)
        if value:
            body[name] = value
    continue_at = data.get("continue_at")
    if continue_at is not None:
        if isinstance(continue_at, bool) or not isinstance(continue_at, (int, float)) or continue_at < 0:
            raise _invalid("continue_at must be a number of seconds")
        if continue_at:
            body["continue_at"] = continue_at
    instrumental = data.get("make_instrumental", False)
    if instrumental is None:
        instrumental = False
    if not isinstance(instrumental, bool):
        raise _invalid("make_instrumental must be a boolean")
    body["make_instrumental"] = instrumental
    if action is SunoAction.MUSIC:
        body.setdefault("mv", DEFAULT_MV)
    elif not body.get("prompt"):
        raise _invalid("prompt_empty", "prompt_empty")
    if body.get("continue_clip_id") and not body.get("task_id"):
        raise _invalid("task id is empty")
    prompt = str(body.get("prompt") or body.get("gpt_description_prompt") or "")
    return SunoSubmit(action=action, body=body, prompt=prompt, origin_task_id=body.get("task_id"))
