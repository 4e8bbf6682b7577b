"""The conversation a Claude request belongs to, for sticky routing.

Prompt caches live per upstream key and thinking signatures are bound to the model/account, so every
turn of a conversation should reach the channel that served the first. The key is, in order: Claude
Code's session header, ``metadata.user_id`` (Claude Code puts its conversation identity there), else a
hash of the conversation's stable prefix (system prompt, tools and first user turn — what every later
turn repeats unchanged).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["SESSION_HEADERS", "conversation_key"]

SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id")


def conversation_key(body: dict[str, Any], headers: Mapping[str, str]) -> str | None:
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return "session:" + value[:200]
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str) and user:
        return "user:" + user[:400]
    messages = body.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    if first is None:
        return None
    prefix = orjson.dumps([body.get("system"), body.get("tools"), first], option=orjson.OPT_SORT_KEYS)
    return "prefix:" + hashlib.blake2b(prefix, digest_size=16).hexdigest()
