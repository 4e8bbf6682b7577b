"""The mock's token accounting — pure functions, so tests can compute the exact usage the mock reports.

Formula (documented in docs/mock-upstream.md):

* words(content) = number of whitespace-separated words of a message's `content`: the string itself, or the
  `text` of every part of list-form content (non-text parts count 0). Markers are ordinary words.
* prompt_tokens = Σ over messages (words(content) + 3) + 3, or exactly N with `[[prompt=N]]`.
* per choice: reasoning r = R (`[[reasoning=N]]`, default 0) and visible v = L (`[[len=N]]`, else the
  config default); with a cap M (`max_completion_tokens`, else `max_tokens`) r = min(R, M),
  v = min(L, M − r), and finish_reason is "length" when R + L > M, else "stop".
* completion_tokens = n·(r + v); total_tokens = prompt + completion.
* cached_tokens = min(C, prompt) with `[[cached=C]]` (else 0); `[[cache_write=W]]` adds
  cache_write_tokens = min(W, prompt − cached) (the field is absent without the marker).
* `[[tool_calls=N]]`, when the request declares function tools: N tool calls per choice (of the first N
  tools, cycled), 10 completion tokens each, after the visible text, each only if it still fits the cap;
  finish_reason "tool_calls" when any was made and nothing was cut.

Markers that shape the answer (`len`, `prompt`, `cached`, `cache_write`, `reasoning`) are read from the last
user message only; the first occurrence of each wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tollway_local.mock.errors import bad_request

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

DEFAULT_COMPLETION_TOKENS = 24
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REQUEST = 3
MAX_N = 128

_MARKER = re.compile(r"\[\[(len|prompt|cached|cache_write|reasoning|tool_calls)=(\d{1,9})\]\]")
#: Completion tokens of one tool call (its name and JSON arguments).
TOOL_CALL_TOKENS = 10


@dataclass(frozen=True, slots=True)
class Markers:
    """Numeric markers of the last user message (None when absent)."""

    len: int | None = None
    prompt: int | None = None
    cached: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    tool_calls: int | None = None


@dataclass(frozen=True, slots=True)
class ChatPlan:
    """Everything a chat answer's length and usage depend on, decided before the first byte."""

    prompt_tokens: int
    cached_tokens: int
    cache_write_tokens: int | None
    n: int
    reasoning_per_choice: int
    visible_per_choice: int
    finish_reason: str
    #: Tool calls per choice (`[[tool_calls=N]]` with function tools declared).
    tool_calls_per_choice: int = 0

    @property
    def reasoning_tokens(self) -> int:
        return self.n * self.reasoning_per_choice

    @property
    def visible_tokens(self) -> int:
        return self.n * self.visible_per_choice

    @property
    def completion_tokens(self) -> int:
        return self.reasoning_tokens + self.visible_tokens + self.n * TOOL_CALL_TOKENS * self.tool_calls_per_choice

    def usage(self) -> dict[str, Any]:
        """The `usage` object of a complete answer (OpenAI's `CompletionUsage`)."""
        prompt_details: dict[str, int] = {"cached_tokens": self.cached_tokens, "audio_tokens": 0}
        if self.cache_write_tokens is not None:
            prompt_details["cache_write_tokens"] = self.cache_write_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def content_text(content: object) -> str:
    """The text of a message's `content`: the string, or the `text` parts of list-form content joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def message_texts(messages: object) -> Iterable[str]:
    """The text of every message (tolerates malformed shapes: used to look for fault markers)."""
    if not isinstance(messages, list):
        return []
    return [content_text(m.get("content")) for m in messages if isinstance(m, dict)]


def count_words(content: object) -> int:
    """Whitespace-separated words of a message's `content` (see `content_text`)."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(
            len(part["text"].split())
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Σ (words(content) + 3) over messages, + 3 — before any `[[prompt=N]]` override."""
    return sum(count_words(m.get("content")) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_REQUEST


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user message's text — or "" when tool results follow it: that turn answers the tool
    results, so the markers that asked for the tool calls must not ask again."""
    for message in reversed(messages):
        if message.get("role") == "tool":
            return ""
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def parse_markers(text: str) -> Markers:
    """The numeric markers in `text`; the first occurrence of each name wins."""
    if "[[" not in text:
        return Markers()
    found: dict[str, int] = {}
    for name, value in _MARKER.findall(text):
        found.setdefault(name, int(value))
    return Markers(**found)


def _optional_count(body: Mapping[str, Any], name: str, *, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_request(f"Invalid '{name}': expected an integer >= {minimum}.", param=name, code="invalid_value")
    return value


def validate_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's `messages`, checked to be a non-empty list of objects.

    Raises:
        MockHTTPError: 400 with param "messages".
    """
    messages = body.get("messages")
    if messages is None:
        raise bad_request(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise bad_request("Invalid 'messages': expected a non-empty array.", param="messages", code="invalid_value")
    if not all(isinstance(m, dict) for m in messages):
        raise bad_request("Invalid 'messages': every message must be an object.", param="messages", code="invalid_type")
    return messages


def plan_chat(body: Mapping[str, Any], *, default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS) -> ChatPlan:
    """Decide the answer's shape and usage from a chat completions request body.

    Raises:
        MockHTTPError: 400 for invalid `messages`, `n`, `max_tokens` or `max_completion_tokens`.
    """
    messages = validate_messages(body)
    markers = parse_markers(last_user_text(messages))
    n = _optional_count(body, "n", minimum=1) or 1
    if n > MAX_N:
        raise bad_request(f"Invalid 'n': at most {MAX_N}.", param="n", code="invalid_value")
    max_completion = _optional_count(body, "max_completion_tokens", minimum=0)
    max_tokens = _optional_count(body, "max_tokens", minimum=0)
    cap = max_completion if max_completion is not None else max_tokens

    wanted_reasoning = markers.reasoning or 0
    wanted_visible = markers.len if markers.len is not None else default_completion_tokens
    wanted_calls = (markers.tool_calls or 0) if function_tools(body) else 0
    if cap is None:
        reasoning, visible, calls = wanted_reasoning, wanted_visible, wanted_calls
    else:
        reasoning = min(wanted_reasoning, cap)
        visible = min(wanted_visible, cap - reasoning)
        calls = min(wanted_calls, (cap - reasoning - visible) // TOOL_CALL_TOKENS)
    cut = (reasoning, visible, calls) != (wanted_reasoning, wanted_visible, wanted_calls)
    finish = "length" if cut else ("tool_calls" if calls else "stop")

    prompt = markers.prompt if markers.prompt is not None else count_prompt_tokens(messages)
    cached = min(markers.cached or 0, prompt)
    cache_write = None if markers.cache_write is None else min(markers.cache_write, prompt - cached)
    return ChatPlan(
        prompt_tokens=prompt,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        n=n,
        reasoning_per_choice=reasoning,
        visible_per_choice=visible,
        finish_reason=finish,
        tool_calls_per_choice=calls,
    )


def function_tools(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's function tools (`{"type": "function", "function": {"name", "parameters"}}`)."""
    tools = body.get("tools")
    return [
        t["function"]
        for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]


def expected_usage(
    request_body: Mapping[str, Any], *, default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS
) -> dict[str, Any]:
    """The `usage` object the mock reports for a complete chat completion of `request_body`.

    Pass the mock's `default_completion_tokens` if its config changed it. Fault modes do not change usage;
    they only decide whether it is sent.
    """
    return plan_chat(request_body, default_completion_tokens=default_completion_tokens).usage()
