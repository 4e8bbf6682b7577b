"""Complete answers both ways: texts joined, thinking kept, tool ids kept and numbered, stop reasons
mapped (never passed through), usage without double counting."""

from __future__ import annotations

import pytest
from tollway.anthropic.responses import (
    chat_completion_to_message,
    finish_reason_of,
    message_to_chat_completion,
    stop_reason_of,
    tool_input_of,
)


def test_message_to_chat_completion() -> None:
    message = {
        "id": "msg_1",
        "content": [
            {"type": "thinking", "thinking": "let me see", "signature": "s"},
            {"type": "text", "text": "Hello "},
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
            {"type": "text", "text": "world"},
            {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 10, "output_tokens": 3},
    }
    out = message_to_chat_completion(message, model="claude-x", created=7)
    reply = out["choices"][0]["message"]
    assert reply["content"] == "Hello world" and reply["reasoning_content"] == "let me see"
    assert [c["id"] for c in reply["tool_calls"]] == ["toolu_a", "toolu_b"]  # server tools are not callable
    assert reply["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] == 15 and out["usage"]["prompt_tokens_details"]["cached_tokens"] == 10
    assert out["id"] == "chatcmpl-1" and out["model"] == "claude-x"


def test_refusal_becomes_content_filter() -> None:
    out = message_to_chat_completion({"content": [], "stop_reason": "refusal"}, model="m", created=0)
    assert out["choices"][0]["finish_reason"] == "content_filter" and out["choices"][0]["message"]["refusal"]


def test_chat_completion_to_message() -> None:
    completion = {
        "id": "chatcmpl-9",
        "choices": [
            {
                "message": {
                    "content": "hi",
                    "reasoning_content": "thought",
                    "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": '{"a": 2}'}}],
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 15}},
    }
    message = chat_completion_to_message(completion, model="gpt-x")
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][2] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 2}}
    assert message["stop_reason"] == "tool_use"  # a tool call makes it tool_use whatever the upstream said
    assert message["usage"] == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 15,
        "output_tokens": 4,
    }
    assert message["id"] == "msg_9"


@pytest.mark.parametrize(
    ("claude", "openai"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(claude: str, openai: str) -> None:
    assert finish_reason_of(claude) == openai


def test_finish_reasons() -> None:
    assert stop_reason_of("length", used_tools=False) == "max_tokens"
    assert stop_reason_of("content_filter", used_tools=False) == "refusal"
    assert stop_reason_of("stop", used_tools=True) == "tool_use"
    assert stop_reason_of(None, used_tools=False) == "end_turn"
    assert stop_reason_of("tool_calls", used_tools=False) == "end_turn"


def test_tool_input_is_always_an_object() -> None:
    assert tool_input_of('{"a":1}') == {"a": 1}
    assert tool_input_of("[1]") == {"arguments": [1]}
    assert tool_input_of("{oops") == {"arguments": "{oops"}
