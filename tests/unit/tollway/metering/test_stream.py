"""The event helpers every SSE meter shares: a non-object event or an error event breaks the stream
(so it is not charged), a typed event's kind comes from its ``type`` or else its SSE name, and an
OpenAI-format stream ends with ``[DONE]`` or, broken, with an error event carrying the upstream's words."""

from __future__ import annotations

import orjson
import pytest
from tollway.metering.stream import DONE, OpenAIStreamEnd, StreamBroke, event_object, typed_event_kind
from tollway.sse import SSEEvent, SSEParser


def sse(data: bytes, event: str | None = None) -> SSEEvent:
    return SSEEvent(block=b"data: " + data, event=event, data=data)


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'])
def test_anything_but_a_json_object_breaks_the_stream(data: bytes) -> None:
    with pytest.raises(StreamBroke, match="malformed"):
        event_object(data)


def test_the_kind_comes_from_type_else_from_the_event_name() -> None:
    typed = sse(b'{"type": "speech.audio.delta"}', event="ignored")
    assert typed_event_kind(event_object(typed.data or b""), typed) == "speech.audio.delta"
    named = sse(b'{"delta": "x"}', event="transcript.text.delta")
    assert typed_event_kind(event_object(named.data or b""), named) == "transcript.text.delta"
    bare = sse(b"{}")
    assert typed_event_kind({}, bare) is None


@pytest.mark.parametrize(
    ("chunk", "event", "error"),
    [
        ({"type": "error", "error": {"message": "boom"}}, None, {"message": "boom"}),
        ({"error": {"code": "x"}}, "speech.audio.delta", {"code": "x"}),
        ({"message": "no details"}, "error", None),
    ],
)
def test_an_error_event_breaks_the_stream_with_what_the_client_gets(
    chunk: dict[str, object], event: str | None, error: dict[str, object] | None
) -> None:
    with pytest.raises(StreamBroke) as broken:
        typed_event_kind(chunk, sse(b"{}", event=event))
    assert broken.value.error == error


def test_an_openai_stream_ends_with_done() -> None:
    assert OpenAIStreamEnd().tail() == DONE == b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    ("error", "message", "code"),
    [
        (None, "cut off", "upstream_error"),
        ({}, "cut off", "upstream_error"),
        ({"message": "overloaded", "code": "server_busy"}, "overloaded", "server_busy"),
        ({"code": "server_busy"}, "cut off", "server_busy"),
        ({"message": 7}, "7", "upstream_error"),
    ],
)
def test_a_broken_openai_stream_ends_with_an_error_event_the_sdks_raise(
    error: dict[str, object] | None, message: str, code: str
) -> None:
    (event,) = SSEParser().feed(OpenAIStreamEnd().broken("cut off", error))
    assert orjson.loads(event.data or b"") == {
        "error": {"message": message, "type": "upstream_error", "param": None, "code": code}
    }
