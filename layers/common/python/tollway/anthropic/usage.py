"""Claude usage ⇄ tollway's :class:`Usage` ⇄ OpenAI usage, each converted exactly once.

Claude's counts are *additive*: ``input_tokens`` is the uncached input only, and cache reads
(``cache_read_input_tokens``) and writes (``cache_creation_input_tokens``, split by TTL in
``cache_creation``) come on top. OpenAI's ``prompt_tokens`` *includes* cached tokens. Mixing the two
conventions is the classic double count; every mapping goes through these functions.
"""

from __future__ import annotations

from typing import Any

from tollway.pricing.usage import Usage

__all__ = [
    "USAGE_FIELDS",
    "claude_usage_of",
    "claude_usage_to_openai",
    "merge_stream_usage",
    "openai_chat_usage_of",
    "openai_usage_to_claude",
]

#: The cumulative fields of ``message_delta.usage`` that replace the ``message_start`` values.
USAGE_FIELDS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens",
    "server_tool_use",
    "service_tier",
)


def _n(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def claude_usage_of(usage: dict[str, Any]) -> Usage:
    """A Claude ``usage`` object → :class:`Usage` (inclusive input; 1-hour writes kept apart).

    Writes without a TTL split are 5-minute writes (the cheaper price; Anthropic's own default TTL).
    """
    uncached = _n(usage.get("input_tokens"))
    reads = _n(usage.get("cache_read_input_tokens"))
    writes = _n(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    write_1h = 0
    if isinstance(split, dict):
        w5 = _n(split.get("ephemeral_5m_input_tokens"))
        write_1h = _n(split.get("ephemeral_1h_input_tokens"))
        # An upstream that splits but omits the total (or reports a smaller one) is billed by the split.
        writes = max(writes, w5 + write_1h)
    tools: dict[str, int] = {}
    server = usage.get("server_tool_use")
    if isinstance(server, dict):
        for name, field in (("web_search", "web_search_requests"), ("web_fetch", "web_fetch_requests")):
            if _n(server.get(field)):
                tools[name] = _n(server.get(field))
    details = usage.get("output_tokens_details")
    thinking = _n(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    tier = usage.get("service_tier")
    return Usage(
        input_tokens=uncached + reads + writes,
        cached_tokens=reads,
        cache_write_tokens=writes,
        cache_write_1h_tokens=write_1h,
        output_tokens=_n(usage.get("output_tokens")),
        reasoning_tokens=thinking,
        tool_calls=tools,
        service_tier=tier if isinstance(tier, str) else None,
    )


def merge_stream_usage(start: dict[str, Any] | None, delta: dict[str, Any] | None) -> dict[str, Any]:
    """The billing usage of a stream: per field, the last ``message_delta`` value (they are cumulative
    totals), else the ``message_start`` value."""
    merged = dict(start or {})
    for key, value in (delta or {}).items():
        if value is not None:
            merged[key] = value
    return merged


def claude_usage_to_openai(usage: dict[str, Any]) -> dict[str, Any]:
    """Claude usage → OpenAI ``CompletionUsage`` (prompt tokens include reads and writes)."""
    u = claude_usage_of(usage)
    out: dict[str, Any] = {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens},
    }
    if u.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


def openai_usage_to_claude(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI ``CompletionUsage`` → Claude usage (the uncached part never below zero)."""
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    reads = _n(details.get("cached_tokens"))
    writes = _n(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(_n(usage.get("prompt_tokens")) - reads - writes, 0),
        "cache_creation_input_tokens": writes,
        "cache_read_input_tokens": reads,
        "output_tokens": _n(usage.get("completion_tokens")),
    }


def openai_chat_usage_of(usage: dict[str, Any]) -> Usage:
    """OpenAI ``CompletionUsage`` → :class:`Usage` (the same convention: totals include details)."""
    prompt = usage.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = usage.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    return Usage(
        input_tokens=_n(usage.get("prompt_tokens")),
        cached_tokens=_n(prompt.get("cached_tokens")),
        cache_write_tokens=_n(prompt.get("cache_write_tokens")),
        output_tokens=_n(usage.get("completion_tokens")),
        reasoning_tokens=_n(completion.get("reasoning_tokens")),
    )
