"""OpenAI chat completions ⇄ Bedrock Converse / ConverseStream (Nova, Llama, Mistral, DeepSeek, …).

Pure functions and one small stream translator; no I/O. What cannot be said in Converse without
changing the request's meaning is refused with a 400 (``n`` > 1, logprobs, JSON response formats,
image URLs — Converse takes image bytes or S3 locations only), never silently dropped. Sampling hints
Converse has no field for (penalties, seed) are dropped: they do not change what is asked.

Usage: Converse reports ``inputTokens`` without the cached ones and ``cacheReadInputTokens`` /
``cacheWriteInputTokens`` beside them; OpenAI's ``prompt_tokens`` includes cached tokens, so
``prompt_tokens = input + cache reads + cache writes`` with the two in ``prompt_tokens_details``.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import orjson
from tollway.errors import InvalidRequest

__all__ = ["ConverseStreamTranslator", "converse_request", "openai_completion", "openai_usage"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def _unsupported(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"'{field}' is not supported for this model on Amazon Bedrock: {why}", param=field)


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url.startswith("data:"):
        raise _unsupported("image_url", "send the image as a base64 data URL (Converse does not fetch URLs).")
    head, _, data = url[5:].partition(",")
    mime = head.split(";", 1)[0].lower()
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None or ";base64" not in head:
        raise _unsupported("image_url", "images must be base64 PNG, JPEG, GIF or WebP.")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("An image data URL is not valid base64.", param="messages") from exc
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _content_blocks(content: Any, role: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("A message's 'content' must be a string or an array of parts.", param="messages")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"text": part["text"]})
        elif kind == "image_url" and role == "user":
            blocks.append(_image_block(part))
        elif kind == "refusal" and role == "assistant":
            blocks.append({"text": str(part.get("refusal") or "")})
        else:
            raise _unsupported("messages", f"content parts of type '{kind}' cannot be sent through Converse.")
    return blocks


def _tool_use(call: Any) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest("Each tool call needs a function name.", param="messages")
    arguments = fn.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("A tool call's arguments are not valid JSON.", param="messages") from exc
    if not isinstance(parsed, dict):
        raise InvalidRequest("A tool call's arguments must be a JSON object.", param="messages")
    return {"toolUse": {"toolUseId": str(call.get("id") or ""), "name": fn["name"], "input": parsed}}


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    texts = [b["text"] for b in _content_blocks(content, "tool") if "text" in b] if content else []
    return {
        "toolResult": {
            "toolUseId": str(message.get("tool_call_id") or ""),
            "content": [{"text": "".join(texts)}],
        }
    }


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:  # Converse wants alternating roles: merge neighbours
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(message.get("content"), "system"))
        elif role == "user":
            add("user", _content_blocks(message.get("content"), "user"))
        elif role == "assistant":
            blocks = _content_blocks(message.get("content"), "assistant")
            blocks.extend(_tool_use(c) for c in message.get("tool_calls") or [])
            add("assistant", blocks)
        elif role in ("tool", "function"):
            add("user", [_tool_result(message)])
        else:
            raise InvalidRequest(f"Unknown message role '{role}'.", param="messages")
    return system, turns


def _tool_config(body: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    specs = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _unsupported("tools", "only function tools can be sent through Converse.")
        spec: dict[str, Any] = {
            "name": fn["name"],
            "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    choice = body.get("tool_choice")
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise InvalidRequest("'tool_choice' names no function.", param="tool_choice")
        config["toolChoice"] = {"tool": {"name": name}}
    elif choice == "none":
        has_history = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
        if not has_history:
            return None  # no tools offered at all is what "none" means
        raise _unsupported("tool_choice", "'none' cannot be expressed while the conversation holds tool calls.")
    elif choice is not None:
        config["toolChoice"] = {"auto": {}}
    return config


def converse_request(body: dict[str, Any], max_tokens: int | None) -> dict[str, Any]:
    """The Converse request body for an OpenAI chat request (``max_tokens`` the limit money pays for)."""
    if (body.get("n") or 1) != 1:
        raise _unsupported("n", "Converse returns one choice.")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise _unsupported("logprobs", "Converse does not return log probabilities.")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise _unsupported("response_format", "Converse has no JSON mode; describe the format in the prompt.")
    system, turns = _messages(body["messages"])
    request: dict[str, Any] = {"messages": turns}
    if system:
        request["system"] = system
    inference: dict[str, Any] = {}
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        if isinstance(body.get(src), int | float) and not isinstance(body.get(src), bool):
            inference[dst] = body[src]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        request["inferenceConfig"] = inference
    tools = _tool_config(body, turns)
    if tools is not None:
        request["toolConfig"] = tools
    return request


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Converse ``usage`` → OpenAI ``CompletionUsage`` (cached tokens counted once, inside the prompt)."""
    uncached = int(usage.get("inputTokens") or 0)
    reads = int(usage.get("cacheReadInputTokens") or 0)
    writes = int(usage.get("cacheWriteInputTokens") or 0)
    output = int(usage.get("outputTokens") or 0)
    prompt = uncached + reads + writes
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": reads, "cache_write_tokens": writes},
    }


def openai_completion(answer: dict[str, Any], model: str, completion_id: str) -> dict[str, Any]:
    """A Converse answer → an OpenAI ``chat.completion``."""
    message = ((answer.get("output") or {}).get("message")) or {}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {"name": use.get("name"), "arguments": orjson.dumps(use.get("input") or {}).decode()},
                }
            )
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text")
            if isinstance(text, str):
                reasoning.append(text)
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    result: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": out, "finish_reason": _FINISH.get(answer.get("stopReason") or "", "stop")}],
    }
    if isinstance(answer.get("usage"), dict):
        result["usage"] = openai_usage(answer["usage"])
    return result


class ConverseStreamTranslator:
    """ConverseStream events → OpenAI ``chat.completion.chunk`` SSE bytes, as they arrive.

    ``[DONE]`` is sent only after ``messageStop`` and ``metadata`` (or at the end of a stream that
    reached ``messageStop``): a stream that breaks before ``messageStop`` ends without it, so the relay
    treats it as broken.
    """

    def __init__(self, model: str, completion_id: str) -> None:
        self._model = model
        self._id = completion_id
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # contentBlockIndex → OpenAI tool_calls index
        self.stopped = False
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def on_event(self, kind: str, event: dict[str, Any]) -> bytes:
        if kind == "messageStart":
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "contentBlockStart":
            use = (event.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                index = len(self._tools)
                self._tools[int(event.get("contentBlockIndex") or 0)] = index
                call = {"index": index, "id": use.get("toolUseId"), "type": "function"}
                call["function"] = {"name": use.get("name"), "arguments": ""}
                return self._chunk({"tool_calls": [call]})
            return b""
        if kind == "contentBlockDelta":
            delta = event.get("delta") or {}
            if "text" in delta:
                return self._chunk({"content": delta["text"]})
            if "toolUse" in delta:
                index = self._tools.get(int(event.get("contentBlockIndex") or 0), 0)
                arguments = (delta["toolUse"] or {}).get("input") or ""
                return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
            text = (delta.get("reasoningContent") or {}).get("text")
            if isinstance(text, str):
                return self._chunk({"reasoning_content": text})
            return b""
        if kind == "messageStop":
            self.stopped = True
            return self._chunk({}, _FINISH.get(event.get("stopReason") or "", "stop"))
        if kind == "metadata":
            usage = event.get("usage")
            out = b""
            if isinstance(usage, dict):
                chunk = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": openai_usage(usage),
                }
                out = b"data: " + orjson.dumps(chunk) + b"\n\n"
            if self.stopped:
                self.done = True
                out += b"data: [DONE]\n\n"
            return out
        return b""  # contentBlockStop and events this version does not know

    def finish(self) -> bytes:
        """What to send when the upstream stream ends (``[DONE]`` only after ``messageStop``)."""
        if self.stopped and not self.done:
            self.done = True
            return b"data: [DONE]\n\n"
        return b""
