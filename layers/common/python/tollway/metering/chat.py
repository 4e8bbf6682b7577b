"""Chat completions and legacy completions: the usage of an answer, and the meters of their streams."""

from __future__ import annotations

from typing import Any

from tollway.metering.events import Chunks, EventMeter
from tollway.metering.fields import count, obj
from tollway.pricing.usage import Usage

__all__ = ["chat_meter", "completions_meter", "usage_from_chat"]


def usage_from_chat(usage: dict[str, Any], service_tier: str | None = None) -> Usage:
    """OpenAI ``CompletionUsage`` → :class:`Usage` (details default to 0; totals include them)."""
    prompt = obj(usage.get("prompt_tokens_details"))
    completion = obj(usage.get("completion_tokens_details"))
    return Usage(
        input_tokens=count(usage.get("prompt_tokens")),
        cached_tokens=count(prompt.get("cached_tokens")),
        cache_write_tokens=count(prompt.get("cache_write_tokens")),
        audio_input_tokens=count(prompt.get("audio_tokens")),
        output_tokens=count(usage.get("completion_tokens")),
        reasoning_tokens=count(completion.get("reasoning_tokens")),
        audio_output_tokens=count(completion.get("audio_tokens")),
        service_tier=service_tier,
    )


def _chat_output(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return False
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("refusal") or delta.get("function_call"))


def chat_meter(client_wants_usage: bool, requested_tier: str | None) -> EventMeter:
    """A chat stream's meter: usage (with the tier the answer reports, else the requested one), produced
    tokens, and the forced usage chunk hidden from a client that did not ask for it."""

    def usage(reported: dict[str, Any], chunk: dict[str, Any]) -> Usage:
        tier = chunk.get("service_tier")
        return usage_from_chat(reported, tier if isinstance(tier, str) else requested_tier)

    return EventMeter(Chunks(produced=_chat_output, usage=usage, client_wants_usage=client_wants_usage))


def _completion_output(choice: dict[str, Any]) -> bool:
    return bool(choice.get("text"))


def _completion_usage(reported: dict[str, Any], chunk: dict[str, Any]) -> Usage:
    return usage_from_chat(reported)  # legacy completions have no service tiers


def completions_meter(client_wants_usage: bool) -> EventMeter:
    """A legacy ``text_completion`` stream's meter (as chat's, without tiers)."""
    return EventMeter(
        Chunks(produced=_completion_output, usage=_completion_usage, client_wants_usage=client_wants_usage)
    )
