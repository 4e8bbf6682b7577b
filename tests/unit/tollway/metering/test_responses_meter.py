"""The Responses stream meter on its own: deltas counted, tool calls counted as items finish and then
taken from the final response, the usage (with the requested tier when the answer names none) from the
terminal event, and failures breaking the stream with what the client is told."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tollway.metering.responses_meter import ResponsesMeter
from tollway.metering.stream import StreamBroke
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser

from tests.unit.tollway.metering.shapes import shaped


def event(body: dict[str, Any], name: str | None = None) -> SSEEvent:
    head = b"event: " + name.encode() + b"\n" if name else b""
    (parsed,) = SSEParser().feed(head + b"data: " + orjson.dumps(body) + b"\n\n")
    return parsed


def test_a_stream_is_counted_then_billed_from_its_terminal_event() -> None:
    meter = ResponsesMeter(requested_tier="flex")
    delta = event({"delta": "x"}, name="response.output_text.delta")  # the kind may come from the SSE name
    assert meter.on_event(delta) == delta.raw
    meter.on_event(event({"type": "response.reasoning_summary_text.delta", "delta": "y"}))
    meter.on_event(event({"type": "response.output_item.done", "item": {"type": "file_search_call"}}))
    meter.on_event(event({"type": {}, "x": 1}))  # an odd type is no kind at all
    assert (meter.produced_output, meter.tool_calls, meter.done) == (2, {"file_search": 1}, False)
    final = {"usage": {"input_tokens": 9, "output_tokens": 3}, "output": [{"type": "web_search_call"}]}
    meter.on_event(event({"type": "response.completed", "response": final}))
    assert meter.done and meter.final == final and meter.tool_calls == {"web_search": 1}
    assert meter.usage == Usage(input_tokens=9, output_tokens=3, tool_calls={"web_search": 1}, service_tier="flex")


def test_a_terminal_event_without_a_response_ends_the_stream_unbilled() -> None:
    meter = ResponsesMeter(requested_tier=None)
    meter.on_event(event({"type": "response.incomplete", "response": "gone"}))
    assert meter.done and meter.usage is None and meter.final is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "error", "code": "server_error", "message": "boom"}, {"message": "boom", "code": "server_error"}),
        ({"type": "error", "error": {"message": "inner"}}, {"message": "inner"}),
        ({"type": "error"}, None),
        ({"error": {"message": "untyped"}}, {"message": "untyped"}),
        (
            {"type": "response.failed", "response": {"error": {"code": "x", "message": "y"}}},
            {"code": "x", "message": "y"},
        ),
        ({"type": "response.failed", "response": 7}, None),
    ],
)
def test_failures_break_the_stream_with_the_upstreams_words(body: dict[str, Any], error: Any) -> None:
    with pytest.raises(StreamBroke) as broke:
        ResponsesMeter(requested_tier=None).on_event(event(body))
    assert broke.value.error == error


def test_a_typed_event_with_an_error_field_is_not_an_error() -> None:
    """Only an ``error`` event (or an untyped one with an error) breaks a Responses stream."""
    meter = ResponsesMeter(requested_tier=None)
    typed = event({"type": "response.output_text.delta", "error": {"message": "ignored"}})
    assert meter.on_event(typed) == typed.raw and meter.produced_output == 1


_EVENTS = [
    {"type": "response.output_text.delta", "delta": "x"},
    {"type": "response.output_item.done", "item": {"type": "function_call", "name": "f", "arguments": "{}"}},
    {"type": "response.output_item.done", "item": {"type": "web_search_call", "action": {"type": "search"}}},
    {
        "type": "response.completed",
        "response": {
            "usage": {
                "input_tokens": 9,
                "output_tokens": 3,
                "input_tokens_details": {"cached_tokens": 2},
                "output_tokens_details": {"reasoning_tokens": 1},
            },
            "service_tier": "default",
            "output": [{"type": "web_search_call"}, {"type": "image_generation_call", "size": "1024x1024"}],
        },
    },
    {"type": "response.failed", "response": {"error": {"code": "server_error", "message": "m"}}},
    {"type": "error", "code": "x", "message": "m"},
]


@settings(max_examples=400, deadline=None)
@given(bodies=st.lists(st.sampled_from(_EVENTS).flatmap(shaped), max_size=6))
def test_the_meter_forwards_or_breaks_on_any_shape_never_raises_otherwise(bodies: list[Any]) -> None:
    """An upstream event of another shape carries nothing; only the upstream's failure breaks the stream."""
    meter = ResponsesMeter(requested_tier="flex")
    for body in bodies:
        parsed = event(body)
        try:
            assert meter.on_event(parsed) == parsed.raw
        except StreamBroke:
            return
    if meter.usage is not None:
        assert meter.usage.input_tokens >= 0 and meter.usage.output_tokens >= 0
