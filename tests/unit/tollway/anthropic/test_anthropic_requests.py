"""Request conversions both ways: meaning kept, ids kept, unsupported fields refused with a clear 400;
and a property test that a conversion round trip keeps the meaning of a message list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tollway.anthropic.requests import chat_to_messages, messages_to_chat
from tollway.errors import InvalidRequest


def to_claude(body: dict[str, Any]) -> dict[str, Any]:
    return chat_to_messages(body, upstream_model="claude-x", max_tokens=100)


def to_chat(body: dict[str, Any], reasoning: bool = False) -> dict[str, Any]:
    return messages_to_chat(body, upstream_model="gpt-x", max_tokens=100, reasoning=reasoning)


def test_chat_to_claude_system_images_tools_and_results() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stop": "END",
        "temperature": 1.7,
        "user": "u-1",
        "reasoning_effort": "high",
        "presence_penalty": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    out = to_claude(body)
    assert out["system"] == [{"type": "text", "text": "be brief"}, {"type": "text", "text": "and kind"}]
    user, assistant, results = out["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert user["content"][2]["source"] == {"type": "url", "url": "https://example.com/a.jpg"}
    assert [b["id"] for b in assistant["content"]] == ["call_1", "call_2"]
    assert assistant["content"][0]["input"] == {"a": 1}
    # Both tool results and the next user text are one user turn (Claude alternates roles).
    assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result", "text"]
    assert results["content"][1] == {"type": "tool_result", "tool_use_id": "call_2", "content": "two"}
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["stop_sequences"] == ["END"] and out["temperature"] == 1.0 and out["metadata"] == {"user_id": "u-1"}
    assert out["thinking"] == {"type": "adaptive"} and out["output_config"] == {"effort": "high"}
    assert out["stream"] is True and out["max_tokens"] == 100


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 2),
        ("logprobs", True),
        ("frequency_penalty", 0.5),
        ("logit_bias", {"1": 2}),
        ("modalities", ["text", "audio"]),
        ("audio", {"voice": "x"}),
        ("response_format", {"type": "json_object"}),
        ("functions", [{"name": "f"}]),
    ],
)
def test_chat_fields_claude_cannot_honour_are_refused(field: str, value: Any) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    with pytest.raises(InvalidRequest) as refused:
        to_claude(body)
    assert refused.value.status == 400 and field.split("(")[0] in refused.value.message


def test_unparseable_tool_arguments_are_refused_not_dropped() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        to_claude(
            {"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]}
        )


def test_claude_to_chat_tools_results_images_and_thinking() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}}
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"x": [1]}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_9", "content": "bad", "is_error": True},
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
        "tool_choice": {"type": "tool", "name": "f"},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "metadata": {"user_id": "u"},
        "output_config": {"effort": "max", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "thinking": {"type": "disabled"},
        "stream": True,
    }
    out = to_chat(body, reasoning=True)
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert out["messages"][1]["content"][0]["image_url"]["url"] == "data:image/jpeg;base64,QUJD"
    assistant = out["messages"][2]
    assert assistant["content"] == "calling" and assistant["tool_calls"][0]["id"] == "toolu_9"
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "toolu_9", "content": "Error: bad"}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["max_completion_tokens"] == 100 and "max_tokens" not in out  # the limit the relay set
    assert out["reasoning_effort"] == "none" and out["user"] == "u"
    assert out["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        {"top_k": 5},
        {"mcp_servers": []},
        {"container": "c"},
        {
            "messages": [
                {"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x"}}]}
            ]
        },
    ],
)
def test_claude_constructs_openai_cannot_take_are_refused(extra: dict[str, Any]) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(InvalidRequest):
        to_chat(body)


# ---- the round trip keeps meaning -------------------------------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
ids = st.text("abcdef0123456789", min_size=4, max_size=8).map(lambda s: "toolu_" + s)
# Integers within 64 bits: what orjson parses a client's body into.
values = st.one_of(st.integers(-(2**63), 2**63 - 1), words, st.booleans())
inputs = st.dictionaries(st.sampled_from(["a", "b", "city"]), values, max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Alternating Claude turns; tool_use ids are answered by tool_results first in the next user turn."""
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(1, 6))):
        if turn % 2 == 0:
            blocks: list[dict[str, Any]] = [
                {"type": "tool_result", "tool_use_id": i, "content": draw(words)} for i in pending
            ]
            blocks += [
                {"type": "text", "text": t} for t in draw(st.lists(words, min_size=0 if pending else 1, max_size=2))
            ]
            pending = []
            messages.append({"role": "user", "content": blocks})
        else:
            blocks = [{"type": "text", "text": draw(words)}] if draw(st.booleans()) else []
            for call_id in draw(st.lists(ids, max_size=3, unique=True)):
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": draw(st.sampled_from(["f", "g"])),
                        "input": draw(inputs),
                    }
                )
                pending.append(call_id)
            if not blocks:
                blocks = [{"type": "text", "text": draw(words)}]
            messages.append({"role": "assistant", "content": blocks})
    return messages


@settings(max_examples=150, deadline=None)
@given(conversations(), st.one_of(st.none(), words))
def test_claude_to_chat_to_claude_keeps_the_meaning(messages: list[dict[str, Any]], system: str | None) -> None:
    body: dict[str, Any] = {"model": "m", "max_tokens": 9, "messages": messages}
    if system is not None:
        body["system"] = system
    back = to_claude(to_chat(body))
    assert back["messages"] == messages
    assert back.get("system") == (None if system is None else [{"type": "text", "text": system}])


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_chat_to_claude_to_chat_keeps_the_meaning(messages: list[dict[str, Any]]) -> None:
    chat = to_chat({"model": "m", "max_tokens": 9, "messages": messages})
    again = to_chat({"model": "m", "max_tokens": 9, "messages": to_claude(chat)["messages"]})
    assert again["messages"] == chat["messages"]
