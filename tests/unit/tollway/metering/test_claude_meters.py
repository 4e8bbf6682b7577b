"""The Claude stream meters: native usage by the message_start/message_delta rule, and both converted
streams — each ends properly (tool turns, refusals, upstream EOF, breaks) and carries the right usage."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tollway.metering.claude import ChatToClaudeMeter, ClaudeMeter, ClaudeToChatMeter, claude_event
from tollway.metering.stream import StreamBroke
from tollway.sse import SSEEvent, SSEParser

from tests.unit.tollway.metering.shapes import shaped


def ev(kind: str, **data: Any) -> SSEEvent:
    (event,) = SSEParser().feed(claude_event(kind, {"type": kind, **data}))
    return event


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, Any] | None = None
) -> SSEEvent:
    body: dict[str, Any] = {"choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    (event,) = SSEParser().feed(b"data: " + orjson.dumps(body) + b"\n\n")
    return event


DONE = SSEParser().feed(b"data: [DONE]\n\n")[0]


def parse_claude(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event or "", orjson.loads(e.data or b"{}")) for e in SSEParser().feed(raw)]


def parse_chat(raw: bytes) -> list[Any]:
    return [e.data if e.data == b"[DONE]" else orjson.loads(e.data or b"") for e in SSEParser().feed(raw)]


START = {
    "id": "msg_1",
    "usage": {
        "input_tokens": 10,
        "cache_read_input_tokens": 90,
        "cache_creation": {"ephemeral_1h_input_tokens": 5},
        "cache_creation_input_tokens": 5,
        "output_tokens": 1,
    },
}


def test_native_meter_bills_last_delta_else_start_and_forwards_unchanged() -> None:
    meter = ClaudeMeter()
    events = [
        ev("message_start", message=START),
        ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        ev("ping"),
        ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "hi"}),
        ev("content_block_stop", index=0),
        ev("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 12}),
    ]
    assert [meter.on_event(e) for e in events] == [e.raw for e in events]
    assert meter.usage is not None and not meter.done
    assert (meter.usage.input_tokens, meter.usage.cached_tokens, meter.usage.cache_write_1h_tokens) == (105, 90, 5)
    assert meter.usage.output_tokens == 12 and meter.produced_output == 1
    # A later cumulative delta replaces the output count (never adds to it).
    meter.on_event(ev("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 15}))
    assert meter.usage.output_tokens == 15
    meter.on_event(ev("message_stop"))
    assert meter.done
    assert meter.tail().endswith(b'data: {"type":"message_stop"}\n\n')


def test_native_meter_without_final_usage_keeps_the_start_for_the_estimate() -> None:
    meter = ClaudeMeter()
    meter.on_event(ev("message_start", message=START))
    meter.on_event(ev("message_delta", delta={"stop_reason": "end_turn"}))
    meter.on_event(ev("message_stop"))
    assert meter.done and meter.usage is None and meter.start_usage == START["usage"]


def test_native_meter_error_event_breaks_the_stream() -> None:
    meter = ClaudeMeter()
    with pytest.raises(StreamBroke) as broke:
        meter.on_event(ev("error", error={"type": "overloaded_error", "message": "busy"}))
    assert broke.value.error == {"type": "overloaded_error", "message": "busy"}
    ((name, data),) = parse_claude(meter.broken("cut", broke.value.error))
    assert name == "error" and data["error"]["type"] == "overloaded_error"
    with pytest.raises(StreamBroke):
        ClaudeMeter().on_event(SSEParser().feed(b"event: message_start\ndata: {nope\n\n")[0])


def test_claude_to_chat_parallel_tools_thinking_and_usage_chunk() -> None:
    meter = ClaudeToChatMeter(model="claude-x", created=1, client_wants_usage=True)
    events = [
        ev("message_start", message=START),
        ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": "", "signature": ""}),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "hmm"}),
        ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "sig"}),
        ev("content_block_stop", index=0),
        ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "ok"}),
        ev("content_block_stop", index=1),
        ev(
            "content_block_start",
            index=2,
            content_block={"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}},
        ),
        ev("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": '{"a":'}),
        ev("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": "1}"}),
        ev("content_block_stop", index=2),
        ev(
            "content_block_start",
            index=3,
            content_block={"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}},
        ),
        ev("content_block_stop", index=3),
        ev("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 30}),
        ev("message_stop"),
    ]
    out = parse_chat(b"".join(b for b in map(meter.on_event, events) if b))
    assert out[-1] == b"[DONE]" and meter.done
    usage_chunk = out[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["prompt_tokens"] == 105
    deltas = [c["choices"][0] for c in out[:-2]]
    assert deltas[0]["delta"] == {"role": "assistant", "content": ""}
    assert {"reasoning_content": "hmm"} in [d["delta"] for d in deltas]
    calls = [tc for d in deltas for tc in d["delta"].get("tool_calls", [])]
    assert [c["index"] for c in calls if "id" in c] == [0, 1]  # numbered from 0, tool calls only
    assert "".join(c["function"].get("arguments", "") for c in calls if c["index"] == 0) == '{"a":1}'
    assert [d["finish_reason"] for d in deltas if d["finish_reason"]] == ["tool_calls"]
    assert meter.usage is not None and meter.usage.output_tokens == 30


def test_claude_to_chat_hides_usage_unless_asked_and_ends_on_eof() -> None:
    meter = ClaudeToChatMeter(model="m", created=1, client_wants_usage=False)
    meter.on_event(ev("message_start", message=START))
    meter.on_event(ev("message_delta", delta={"stop_reason": "refusal"}, usage={"output_tokens": 2}))
    out = parse_chat(meter.tail())  # the upstream ended without message_stop
    assert out == [b"[DONE]"]
    broken = parse_chat(ClaudeToChatMeter(model="m", created=1, client_wants_usage=False).broken("cut", None))
    assert "error" in broken[0] and broken[-1] == b"[DONE]"


def test_chat_to_claude_tool_turn_waits_for_usage_then_closes() -> None:
    meter = ChatToClaudeMeter(model="gpt-x", message_id="msg_t", input_estimate=50)
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "think"}),
        chunk({"content": "Let me check."}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]
            }
        ),
        chunk({}, finish="tool_calls"),
        chunk(
            None, usage={"prompt_tokens": 120, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 100}}
        ),
        DONE,
    ]
    events = parse_claude(b"".join(b for b in map(meter.on_event, chunks) if b))
    names = [n for n, _ in events]
    assert names[0] == "message_start" and events[0][1]["message"]["usage"]["input_tokens"] == 50
    assert names[-2:] == ["message_delta", "message_stop"] and meter.done
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use", "tool_use"]
    assert [b.get("id") for b in starts[2:]] == ["call_1", "call_2"]
    indices = [d["index"] for n, d in events if n == "content_block_start"]
    assert indices == [0, 1, 2, 3] and names.count("content_block_stop") == 4
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "output_tokens": 9,
    }
    assert meter.usage is not None and (meter.usage.input_tokens, meter.usage.cached_tokens) == (120, 100)


def test_chat_to_claude_refusal_eof_and_break() -> None:
    meter = ChatToClaudeMeter(model="m", message_id="msg", input_estimate=1)
    meter.on_event(chunk({"refusal": "I can't help with that."}, finish="stop"))
    events = parse_claude(meter.tail())  # the upstream ended without [DONE] and without usage
    assert events[-2][1]["delta"]["stop_reason"] == "refusal" and events[-1][0] == "message_stop"
    cut = ChatToClaudeMeter(model="m", message_id="msg", input_estimate=1)
    cut.on_event(chunk({"content": "partial"}))
    broken = parse_claude(cut.broken("The upstream stream broke off", None))
    assert [n for n, _ in broken] == ["content_block_stop", "error"]
    with pytest.raises(StreamBroke):
        cut.on_event(SSEParser().feed(b'data: {"error": {"message": "boom"}}\n\n')[0])


openai_deltas = st.lists(
    st.one_of(
        st.builds(lambda t: {"content": t}, st.text(min_size=1, max_size=5)),
        st.builds(lambda t: {"reasoning_content": t}, st.text(min_size=1, max_size=5)),
        st.builds(
            lambda i, a: {"tool_calls": [{"index": i, "id": f"call_{i}", "function": {"name": "f", "arguments": a}}]},
            st.integers(0, 3),
            st.text(max_size=4),
        ),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(
    openai_deltas,
    st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"]),
    st.booleans(),
    st.booleans(),
)
def test_every_converted_claude_stream_is_well_formed(
    deltas: list[dict[str, Any]], finish: str | None, usage: bool, done: bool
) -> None:
    meter = ChatToClaudeMeter(model="m", message_id="msg", input_estimate=3)
    chunks = [chunk(d) for d in deltas] + [chunk({}, finish=finish)]
    if usage:
        chunks.append(chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 2}))
    raw = b"".join(b for b in map(meter.on_event, chunks) if b)
    raw += meter.on_event(DONE) or b"" if done else meter.tail()
    events = parse_claude(raw)
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_block: int | None = None
    seen: list[int] = []
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_block is None
            open_block = data["index"]
            seen.append(open_block)
        elif name == "content_block_stop":
            assert data["index"] == open_block
            open_block = None
    assert open_block is None and seen == list(range(len(seen)))
    has_tools = any("tool_calls" in d for d in deltas)
    assert (events[-2][1]["delta"]["stop_reason"] == "tool_use") == has_tools


CHAT_CHUNK = {
    "choices": [
        {
            "index": 0,
            "delta": {
                "content": "hi",
                "reasoning_content": "t",
                "refusal": "no",
                "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}],
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
CLAUDE_EVENTS = {
    "message_start": {"message": {"id": "msg_1", "usage": {"input_tokens": 3}}},
    "content_block_start": {"index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "text": "x"}},
    "content_block_delta": {"index": 0, "delta": {"type": "input_json_delta", "partial_json": "{", "text": "a"}},
    "message_delta": {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    "message_stop": {},
}


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(shaped(CHAT_CHUNK), max_size=4), done=st.booleans())
def test_a_chat_upstream_of_any_shape_converts_or_breaks_never_raises_otherwise(chunks: list[Any], done: bool) -> None:
    # Choices, deltas and tool calls of another shape carry nothing, as in the chat meter.
    meter = ChatToClaudeMeter(model="m", message_id="msg_1", input_estimate=3)
    try:
        for body in chunks:
            (event,) = SSEParser().feed(b"data: " + orjson.dumps(body) + b"\n\n")
            meter.on_event(event)
        if done:
            meter.on_event(DONE)
    except StreamBroke:
        meter.broken("broke", None)
        return
    parse_claude(meter.tail())


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.sampled_from(sorted(CLAUDE_EVENTS)).flatmap(
    lambda kind: st.tuples(st.just(kind), shaped(CLAUDE_EVENTS[kind]))), max_size=6))  # fmt: skip
def test_a_claude_upstream_of_any_shape_converts_or_breaks_never_raises_otherwise(
    events: list[tuple[str, Any]],
) -> None:
    meter = ClaudeToChatMeter(model="m", created=1, client_wants_usage=True)
    try:
        for kind, data in events:
            meter.on_event(ev(kind, **data))
    except StreamBroke:
        meter.broken("broke", None)
        return
    parse_chat(meter.tail())


NATIVE_EVENTS = {
    "message_start": {"message": {"id": "msg_1", "usage": {"input_tokens": 3, "cache_read_input_tokens": 2}}},
    "content_block_delta": {"index": 0, "delta": {"type": "text_delta", "text": "a"}},
    "message_delta": {
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 2, "cache_creation": {"ephemeral_5m_input_tokens": 1}},
    },
    "message_stop": {},
    "error": {"error": {"type": "overloaded_error", "message": "busy"}},
}


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.sampled_from(sorted(NATIVE_EVENTS)).flatmap(
    lambda kind: st.tuples(st.just(kind), shaped(NATIVE_EVENTS[kind]))), max_size=6))  # fmt: skip
def test_the_native_meter_forwards_or_breaks_on_any_shape_never_raises_otherwise(
    events: list[tuple[str, Any]],
) -> None:
    """Usage of another shape bills nothing (the estimate applies), it never cuts the stream."""
    meter = ClaudeMeter()
    try:
        for kind, data in events:
            event = ev(kind, **data)
            assert meter.on_event(event) == event.raw
    except StreamBroke:
        assert any(kind == "error" for kind, _ in events)  # only the upstream's own error breaks it
        return
    if meter.usage is not None:
        assert meter.usage.output_tokens >= 0
