"""OpenAI chat ⇄ Converse: requests, answers, usage without double counting, and the stream translator."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tollway.bedrock.converse import ConverseStreamTranslator, converse_request, openai_completion, openai_usage
from tollway.errors import InvalidRequest

_PNG = "iVBORw0KGgo="


def test_a_full_conversation_converts() -> None:
    body: dict[str, Any] = {
        "model": "llama",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PNG}"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "wx", "arguments": '{"city":"Oslo"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "wx", "arguments": '{"city":"Rome"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
            {"role": "tool", "tool_call_id": "call_2", "content": "warm"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "wx", "description": "weather", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "auto",
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
    }
    request = converse_request(body, 256)
    assert request["system"] == [{"text": "Be brief."}, {"text": "No emoji."}]
    assert request["messages"] == [
        {"role": "user", "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {"bytes": _PNG}}}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "call_1", "name": "wx", "input": {"city": "Oslo"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "wx", "input": {"city": "Rome"}}},
            ],
        },
        # Two tool messages become one user turn (Converse wants alternating roles).
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "cold"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "warm"}]}},
            ],
        },
    ]
    assert request["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert request["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "wx", "description": "weather", "inputSchema": {"json": {"type": "object"}}}}],
        "toolChoice": {"auto": {}},
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("required", {"any": {}}), ({"type": "function", "function": {"name": "wx"}}, {"tool": {"name": "wx"}})],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tool_choice": choice,
        "tools": [{"type": "function", "function": {"name": "wx"}}],
    }
    assert converse_request(body, None)["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_without_history_sends_no_tools() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tool_choice": "none",
        "tools": [{"type": "function", "function": {"name": "wx"}}],
    }
    assert "toolConfig" not in converse_request(body, None)


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2},
        {"logprobs": True},
        {"response_format": {"type": "json_object"}},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "[1]"}}]}
            ]
        },
    ],
)
def test_what_converse_cannot_say_is_a_clear_400(extra: dict[str, Any]) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(InvalidRequest):
        converse_request(body, None)


def test_usage_counts_cached_tokens_once_inside_the_prompt() -> None:
    usage = openai_usage(
        {"inputTokens": 4, "outputTokens": 7, "cacheReadInputTokens": 1200, "cacheWriteInputTokens": 30}
    )
    assert usage == {
        "prompt_tokens": 1234,
        "completion_tokens": 7,
        "total_tokens": 1241,
        "prompt_tokens_details": {"cached_tokens": 1200, "cache_write_tokens": 30},
    }


def test_an_answer_with_text_reasoning_and_tools_converts() -> None:
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s"}}},
                    {"text": "Let me check."},
                    {"toolUse": {"toolUseId": "t1", "name": "wx", "input": {"city": "Oslo"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
    }
    out = openai_completion(answer, "llama", "chatcmpl-1")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["reasoning_content"] == "think"
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "wx", "arguments": '{"city":"Oslo"}'}}
    ]
    assert out["usage"]["prompt_tokens"] == 10 and out["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
    ],
)
def test_stop_reasons(reason: str, finish: str) -> None:
    answer = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason}
    assert openai_completion(answer, "m", "c")["choices"][0]["finish_reason"] == finish


def _chunks(raw: bytes) -> list[Any]:
    out = []
    for block in raw.split(b"\n\n"):
        if block.startswith(b"data: "):
            data = block[6:]
            out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def test_a_tool_stream_translates_with_usage_and_done() -> None:
    t = ConverseStreamTranslator("llama", "chatcmpl-9")
    raw = b"".join(
        [
            t.on_event("messageStart", {"role": "assistant"}),
            t.on_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            t.on_event("contentBlockStop", {"contentBlockIndex": 0}),
            t.on_event(
                "contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "wx"}}}
            ),
            t.on_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
            t.on_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Oslo"}'}}}),
            t.on_event("messageStop", {"stopReason": "tool_use"}),
            t.on_event("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4}, "metrics": {"latencyMs": 5}}),
            t.finish(),
        ]
    )
    chunks = _chunks(raw)
    assert chunks[-1] == "[DONE]" and t.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0] == {
        "index": 0,
        "id": "t1",
        "type": "function",
        "function": {"name": "wx", "arguments": ""},
    }
    arguments = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[3:5])
    assert arguments == '{"city":"Oslo"}'
    assert chunks[5]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[6]["choices"] == [] and chunks[6]["usage"]["completion_tokens"] == 4


def test_a_stream_broken_before_message_stop_has_no_done() -> None:
    t = ConverseStreamTranslator("m", "c")
    raw = t.on_event("messageStart", {}) + t.on_event("contentBlockDelta", {"delta": {"text": "a"}}) + t.finish()
    assert b"[DONE]" not in raw and not t.done


def test_a_stream_without_metadata_still_ends() -> None:
    t = ConverseStreamTranslator("m", "c")
    raw = t.on_event("messageStop", {"stopReason": "end_turn"}) + t.finish()
    assert raw.endswith(b"data: [DONE]\n\n") and b'"usage"' not in raw
