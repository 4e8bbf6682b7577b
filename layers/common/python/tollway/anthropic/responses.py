"""Complete answers: a Claude message → an OpenAI chat completion, and the reverse."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.anthropic.usage import claude_usage_to_openai, openai_usage_to_claude

__all__ = [
    "chat_completion_to_message",
    "finish_reason_of",
    "message_to_chat_completion",
    "stop_reason_of",
    "tool_input_of",
]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # a paused server-tool turn: the client sees a normal end (documented)
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# "tool_calls" without any tool call is not a tool turn: a client would wait for tool_use blocks.
_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


def finish_reason_of(stop_reason: Any) -> str:
    """Claude ``stop_reason`` → OpenAI ``finish_reason`` (never passed through unmapped)."""
    return _FINISH.get(str(stop_reason), "stop")


def stop_reason_of(finish_reason: Any, *, used_tools: bool) -> str:
    """OpenAI ``finish_reason`` → Claude ``stop_reason``: ``tool_use`` exactly when a tool call was emitted."""
    if used_tools:
        return "tool_use"
    return _STOP.get(str(finish_reason), "end_turn")


def tool_input_of(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Claude's ``tool_use.input`` must be."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": str(arguments)}  # kept, not dropped: the client sees what the model wrote
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def message_to_chat_completion(message: dict[str, Any], *, model: str, created: int) -> dict[str, Any]:
    """A Claude message → an OpenAI ``chat.completion`` (texts joined, thinking as ``reasoning_content``,
    client tool calls numbered from 0; Anthropic-run server tools stay inside the answer's text)."""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thinking:
        reply["reasoning_content"] = "".join(thinking)
    if calls:
        reply["tool_calls"] = calls
    if message.get("stop_reason") == "refusal":
        reply["refusal"] = reply["content"] or "The model declined to answer."
    out: dict[str, Any] = {
        "id": "chatcmpl-" + str(message.get("id") or "").removeprefix("msg_"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": finish_reason_of(message.get("stop_reason")),
            }
        ],
    }
    usage = message.get("usage")
    if isinstance(usage, dict):
        out["usage"] = claude_usage_to_openai(usage)
    return out


def chat_completion_to_message(completion: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` → a Claude message (the first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    reply = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = reply.get("reasoning_content") or reply.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = reply.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = reply.get("refusal")
    if isinstance(refusal, str) and refusal and not text:
        content.append({"type": "text", "text": refusal})
    for call in reply.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": tool_input_of(fn.get("arguments")),
            }
        )
    used_tools = any(b["type"] == "tool_use" for b in content)
    finish = "content_filter" if isinstance(refusal, str) and refusal else choice.get("finish_reason")
    usage = completion.get("usage")
    return {
        "id": "msg_" + str(completion.get("id") or "").removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason_of(finish, used_tools=used_tools),
        "stop_sequence": None,
        "usage": openai_usage_to_claude(usage) if isinstance(usage, dict) else {"input_tokens": 0, "output_tokens": 0},
    }
