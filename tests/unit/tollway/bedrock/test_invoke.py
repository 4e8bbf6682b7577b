"""Claude's native body on Bedrock, and chunk frames → Anthropic's SSE events."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from tollway.bedrock.eventstream import Frame
from tollway.bedrock.invoke import DEFAULT_BETA_FLAGS, InvokeStreamTranslator, beta_flags, invoke_body, is_claude


def test_the_body_loses_model_and_stream_and_gains_the_bedrock_version() -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "stream": True,
        "max_tokens": 10,
        "metadata": {"user_id": "u"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    out = invoke_body(body, ["interleaved-thinking-2025-05-14"])
    assert out == {
        "max_tokens": 10,
        "messages": body["messages"],
        "thinking": body["thinking"],
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    }
    assert "anthropic_beta" not in invoke_body(body, [])


def test_only_beta_flags_bedrock_accepts_are_kept() -> None:
    header = (
        "claude-code-20250219, interleaved-thinking-2025-05-14,oauth-2025-04-20,"
        "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    )
    assert beta_flags(header, DEFAULT_BETA_FLAGS) == ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
    assert beta_flags(None, DEFAULT_BETA_FLAGS) == []


def test_claude_ids_profiles_and_arns_are_recognised() -> None:
    for model in (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "us.anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-opus-4-6-v1",
        "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-sonnet-4-6",
    ):
        assert is_claude(model)
    for model in ("amazon.nova-pro-v1:0", "meta.llama3-3-70b-instruct-v1:0", "us.deepseek.r1-v1:0"):
        assert not is_claude(model)


def _chunk(event: dict[str, Any]) -> Frame:
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(event)).decode(), "p": "abc"})
    return Frame({":event-type": "chunk", ":message-type": "event", ":content-type": "application/json"}, payload)


def _events(raw: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            kind, data = block.split(b"\n")
            out.append((kind[len(b"event: ") :].decode(), orjson.loads(data[len(b"data: ") :])))
    return out


def test_a_stream_becomes_anthropic_events_and_metrics_are_taken_off() -> None:
    t = InvokeStreamTranslator()
    start = {
        "type": "message_start",
        "message": {"id": "m", "usage": {"input_tokens": 5, "cache_read_input_tokens": 100}},
    }
    raw = t.on_frame(_chunk(start))
    raw += t.on_frame(
        _chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
    )
    held = t.on_frame(
        _chunk({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}})
    )
    assert held == b""  # kept until the next event, in case only the metrics carry the output count
    metrics = {"inputTokenCount": 5, "outputTokenCount": 2, "invocationLatency": 9, "firstByteLatency": 3}
    raw += held + t.on_frame(_chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})) + t.finish()
    events = _events(raw)
    assert [k for k, _ in events] == ["message_start", "content_block_delta", "message_delta", "message_stop"]
    assert events[0][1] == start and events[2][1]["usage"] == {"output_tokens": 2}
    assert events[3][1] == {"type": "message_stop"} and t.metrics == metrics


def test_a_message_delta_without_output_usage_is_filled_from_the_metrics() -> None:
    t = InvokeStreamTranslator()
    t.on_frame(_chunk({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}))
    raw = t.on_frame(_chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"outputTokenCount": 17}}))
    events = _events(raw)
    assert events[0] == (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 17}},
    )


def test_an_exception_frame_becomes_an_error_event() -> None:
    t = InvokeStreamTranslator()
    frame = Frame({":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message":"slow down"}')
    ((kind, data),) = _events(t.on_frame(frame))
    assert kind == "error" and data["error"]["type"] == "rate_limit_error"
    assert "slow down" in data["error"]["message"]
