"""Chat and legacy completions usage and meters: the usage breakdown, the service tier (reported, else
requested; legacy completions have none), produced output counted per choice."""

from __future__ import annotations

from typing import Any

import orjson
from tollway.metering.chat import chat_meter, completions_meter, usage_from_chat
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser

USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 6,
    "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2, "audio_tokens": 1},
    "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 2},
}


def event(body: dict[str, Any]) -> SSEEvent:
    (parsed,) = SSEParser().feed(b"data: " + orjson.dumps(body) + b"\n\n")
    return parsed


def test_the_usage_breakdown_and_odd_shapes_counted_as_none() -> None:
    assert usage_from_chat(USAGE, "flex") == Usage(
        input_tokens=10,
        cached_tokens=4,
        cache_write_tokens=2,
        audio_input_tokens=1,
        output_tokens=6,
        reasoning_tokens=3,
        audio_output_tokens=2,
        service_tier="flex",
    )
    odd = {"prompt_tokens": -1, "completion_tokens": True, "prompt_tokens_details": [1], "completion_tokens_details": 3}
    assert usage_from_chat(odd) == Usage()


def test_chat_takes_the_reported_tier_else_the_requested_one() -> None:
    meter = chat_meter(client_wants_usage=True, requested_tier="priority")
    meter.on_event(event({"choices": [], "usage": USAGE}))
    assert meter.usage is not None and meter.usage.service_tier == "priority"
    meter.on_event(event({"choices": [], "usage": USAGE, "service_tier": "default"}))
    assert meter.usage is not None and meter.usage.service_tier == "default"


def test_chat_counts_content_tool_calls_refusals_and_function_calls() -> None:
    meter = chat_meter(client_wants_usage=False, requested_tier=None)
    producing = [{"content": "a"}, {"tool_calls": [{}]}, {"refusal": "no"}, {"function_call": {"name": "f"}}]
    deltas = [*producing, {"content": ""}, {}]
    meter.on_event(event({"choices": [{"delta": d} for d in deltas] + [{"delta": "text"}]}))
    assert meter.produced_output == 4


def test_completions_count_text_and_have_no_tier() -> None:
    meter = completions_meter(client_wants_usage=False)
    assert meter.on_event(event({"choices": [{"text": "a"}, {"text": ""}], "service_tier": "flex"})) is not None
    assert meter.on_event(event({"choices": [], "usage": USAGE, "service_tier": "flex"})) is None
    assert meter.produced_output == 1
    assert meter.usage == usage_from_chat(USAGE)


def test_a_choices_value_that_is_not_a_list_carries_no_output() -> None:
    """Found by a differential run: the completions meter used to raise TypeError on ``"choices": -1``."""
    for meter in (completions_meter(client_wants_usage=True), chat_meter(client_wants_usage=True, requested_tier=None)):
        for odd in (-1, True, 2.5, "text", {"text": "a"}):
            chunk = event({"choices": odd})
            assert meter.on_event(chunk) == chunk.raw
        assert meter.produced_output == 0
