"""The shared event meter: what every OpenAI event stream has in common (comments dropped, ``[DONE]``
ends it, a malformed or error event breaks it), and the two rule sets that are data — typed events
(speech, transcription) and chunks (chat, completions)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tollway.metering.events import Chunks, EventMeter, TypedEvents
from tollway.metering.stream import StreamBroke
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser


def events(raw: bytes) -> list[SSEEvent]:
    return SSEParser().feed(raw)


def data(body: dict[str, Any], name: str | None = None) -> SSEEvent:
    head = b"event: " + name.encode() + b"\n" if name else b""
    (event,) = events(head + b"data: " + orjson.dumps(body) + b"\n\n")
    return event


def typed_meter(seen: list[dict[str, Any]]) -> EventMeter:
    rules = TypedEvents(
        delta="x.delta", done="x.done", usage=lambda chunk: Usage(output_tokens=chunk["n"]), on_delta=seen.append
    )
    return EventMeter(rules)


def test_typed_events_count_deltas_and_take_the_usage_from_the_done_event() -> None:
    seen: list[dict[str, Any]] = []
    meter = typed_meter(seen)
    delta, named, other, done = (
        data({"type": "x.delta", "d": 1}),
        data({"d": 2}, name="x.delta"),  # the kind may come from the SSE name
        data({"type": "x.other"}),
        data({"type": "x.done", "n": 7}),
    )
    assert [meter.on_event(e) for e in (delta, named, other)] == [delta.raw, named.raw, other.raw]
    assert (meter.produced_output, meter.usage, meter.done) == (2, None, False)
    assert seen == [{"type": "x.delta", "d": 1}, {"d": 2}]
    assert meter.on_event(done) == done.raw
    assert (meter.usage, meter.done) == (Usage(output_tokens=7), True)


def test_comments_are_dropped_and_done_ends_the_stream() -> None:
    meter = typed_meter([])
    comment, finished = events(b": keep-alive\n\ndata: [DONE]\n\n")
    assert meter.on_event(comment) is None
    assert meter.on_event(finished) == finished.raw and meter.done
    assert meter.usage is None


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"data: {nope\n\n", None),
        (b"data: [1]\n\n", None),
        (b'data: {"type": "error", "error": {"message": "boom"}}\n\n', {"message": "boom"}),
        (b'data: {"type": "x.delta", "error": {"code": "x"}}\n\n', {"code": "x"}),
    ],
)
def test_a_malformed_or_error_event_breaks_a_typed_stream(raw: bytes, error: dict[str, Any] | None) -> None:
    meter = typed_meter([])
    with pytest.raises(StreamBroke) as broke:
        meter.on_event(events(raw)[0])
    assert broke.value.error == error


def chunk_meter(client_wants_usage: bool) -> EventMeter:
    return EventMeter(
        Chunks(
            produced=lambda choice: bool(choice.get("text")),
            usage=lambda usage, chunk: Usage(input_tokens=usage["in"], service_tier=chunk.get("service_tier")),
            client_wants_usage=client_wants_usage,
        )
    )


def test_chunks_count_producing_choices_and_skip_odd_ones() -> None:
    meter = chunk_meter(True)
    event = data({"choices": [{"text": "a"}, {"text": ""}, "x", None, {"text": "b"}]})
    assert meter.on_event(event) == event.raw
    assert meter.produced_output == 2
    odd = data({"choices": {"text": "a"}})  # not a list: no output, never an exception
    assert meter.on_event(odd) == odd.raw and meter.produced_output == 2


def test_the_usage_chunk_the_relay_asked_for_is_hidden_from_a_client_that_did_not() -> None:
    meter = chunk_meter(False)
    assert meter.on_event(data({"choices": [], "usage": {"in": 3}, "service_tier": "flex"})) is None
    assert meter.usage == Usage(input_tokens=3, service_tier="flex")
    with_choice = meter.on_event(data({"choices": [{"text": "a"}], "usage": {"in": 4}}))
    assert orjson.loads((with_choice or b"").removeprefix(b"data: ")) == {"choices": [{"text": "a"}]}
    assert meter.usage == Usage(input_tokens=4)


def test_a_client_that_asked_for_usage_gets_the_usage_chunk_unchanged() -> None:
    meter = chunk_meter(True)
    event = data({"choices": [], "usage": {"in": 3}})
    assert meter.on_event(event) == event.raw
    assert meter.usage == Usage(input_tokens=3)


@pytest.mark.parametrize(("error", "seen"), [({"message": "boom"}, {"message": "boom"}), ("boom", None)])
def test_an_error_chunk_breaks_the_stream(error: Any, seen: dict[str, Any] | None) -> None:
    with pytest.raises(StreamBroke) as broke:
        chunk_meter(True).on_event(data({"error": error}))
    assert broke.value.error == seen


def test_a_chunk_with_a_type_error_but_no_error_field_is_forwarded() -> None:
    """Chunks are not typed events: only an ``error`` field breaks them (as before the meters merged)."""
    event = data({"type": "error", "choices": []})
    assert chunk_meter(True).on_event(event) == event.raw
