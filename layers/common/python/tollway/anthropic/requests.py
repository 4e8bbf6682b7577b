"""Request bodies: OpenAI chat → Claude Messages, and Claude Messages → OpenAI chat.

Both directions keep meaning or refuse: a field the other side cannot honour gets a clear 400 naming
it (``InvalidRequest``), never a silent drop that changes the answer. Fields that only tune transport
or bookkeeping on the client's side (``store``, ``seed``, ``cache_control``…) are dropped, as listed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from tollway.errors import InvalidRequest

__all__ = ["chat_to_messages", "messages_to_chat"]

# ---- shared -----------------------------------------------------------------------------------------


def _unsupported(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"'{field}' is not supported {why}.", param=field, code="unsupported_parameter")


def _text_of(content: Any, field: str) -> str:
    """Plain text of a system/tool content (string or text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest(f"'{field}' may only hold text parts here.", param=field)
            parts.append(part["text"])
        return "\n".join(parts)
    if content is None:
        return ""
    raise InvalidRequest(f"'{field}' must be a string or an array of text parts.", param=field)


# ---- OpenAI chat → Claude ---------------------------------------------------------------------------

_TO_CLAUDE = "when the model is served by a Claude channel"
# OpenAI fields that carry no meaning for the answer itself (storage, caching hints, determinism hints).
_CHAT_IGNORED = frozenset(
    {"store", "metadata", "seed", "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "stream_options"}
)
_CHAT_HANDLED = frozenset(
    {
        "model", "messages", "stream", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
        "tools", "tool_choice", "parallel_tool_calls", "user", "reasoning_effort", "response_format", "n",
        "logprobs", "frequency_penalty", "presence_penalty", "logit_bias", "service_tier", "modalities",
    }
)  # fmt: skip
_EFFORTS = {"low": "low", "minimal": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url:
        raise InvalidRequest("An image_url part needs a 'url'.", param="messages")
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media = head[5:].split(";")[0]
        if ";base64" not in head or not media.startswith("image/"):
            raise InvalidRequest("An image data URL must be base64 image data.", param="messages")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("An image URL must be http(s) or a data URL.", param="messages")


def _file_block(part: dict[str, Any]) -> dict[str, Any]:
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if isinstance(data, str) and data.startswith("data:application/pdf;base64,"):
        return {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": data.partition(",")[2]},
        }
    raise _unsupported("file", _TO_CLAUDE + " unless it is inline PDF data (file_data)")


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest("A message's 'content' must be a string or an array of parts.", param="messages")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part))
        elif kind == "file":
            blocks.append(_file_block(part))
        else:
            raise _unsupported(f"content part type {kind!r}", _TO_CLAUDE)
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            text = part.get("text") if kind == "text" else part.get("refusal") if kind == "refusal" else None
            if not isinstance(text, str):
                raise _unsupported(f"assistant content part type {kind!r}", _TO_CLAUDE)
            if text:
                blocks.append({"type": "text", "text": text})
    elif content is not None:
        raise InvalidRequest("An assistant message's 'content' must be a string or parts.", param="messages")
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(call.get("id"), str):
            raise InvalidRequest("A tool call needs an 'id' and a function 'name'.", param="messages")
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                f"The arguments of tool call {call['id']!r} are not valid JSON.", param="messages"
            ) from None
        if not isinstance(args, dict):
            raise InvalidRequest(f"The arguments of tool call {call['id']!r} must be a JSON object.", param="messages")
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"], "input": args})
    return blocks


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Claude alternates roles: consecutive turns of one role merge into one message."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _zero_or_absent(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value not in (None, 0, 0.0, {}):
        raise _unsupported(name, _TO_CLAUDE + " (only its neutral value is accepted)")


def _chat_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    out = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _unsupported("tools (non-function tools)", _TO_CLAUDE)
        item: dict[str, Any] = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object"}}
        if fn.get("description"):
            item["description"] = fn["description"]
        if fn.get("strict") is True:
            item["strict"] = True
        out.append(item)
    return out


def _chat_tool_choice(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    raise InvalidRequest("'tool_choice' is not valid.", param="tool_choice")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return None
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return {"type": "json_schema", "schema": schema}
    raise _unsupported("response_format (json_object)", _TO_CLAUDE + "; use a json_schema format")


def _check_chat_fields(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - _CHAT_HANDLED - _CHAT_IGNORED)
    if unknown:
        raise _unsupported(unknown[0], _TO_CLAUDE)
    if body.get("n") not in (None, 1):
        raise _unsupported("n", _TO_CLAUDE + " (one choice per request)")
    if body.get("logprobs"):
        raise _unsupported("logprobs", _TO_CLAUDE)
    for name in ("frequency_penalty", "presence_penalty", "logit_bias"):
        _zero_or_absent(body, name)
    if body.get("modalities") not in (None, ["text"]):
        raise _unsupported("modalities", _TO_CLAUDE + " (text only)")
    if body.get("service_tier") not in (None, "auto", "default"):
        raise _unsupported("service_tier", _TO_CLAUDE)


def _chat_turns(chat: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages → (Claude system blocks, Claude messages)."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in chat:
        role = message.get("role")
        if role in ("system", "developer"):
            # Claude has one top-level system prompt: every system/developer message joins it, in order.
            system.append({"type": "text", "text": _text_of(message.get("content"), "messages")})
        elif role == "user":
            _append(messages, "user", _user_blocks(message.get("content")))
        elif role == "assistant":
            _append(messages, "assistant", _assistant_blocks(message))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise InvalidRequest("A tool message needs a 'tool_call_id'.", param="messages")
            text = _text_of(message.get("content"), "messages")
            _append(messages, "user", [{"type": "tool_result", "tool_use_id": call_id, "content": text}])
        else:
            raise _unsupported(f"message role {role!r}", _TO_CLAUDE)
    return system, messages


def _chat_tooling(body: dict[str, Any], out: dict[str, Any]) -> None:
    if body.get("tools"):
        out["tools"] = _chat_tools(body["tools"])
    choice = body.get("tool_choice")
    if choice is not None:
        out["tool_choice"] = _chat_tool_choice(choice)
    if body.get("parallel_tool_calls") is False and out.get("tools"):
        out["tool_choice"] = {**out.get("tool_choice", {"type": "auto"}), "disable_parallel_tool_use": True}


def _chat_output_config(body: dict[str, Any], out: dict[str, Any]) -> None:
    config: dict[str, Any] = {}
    effort = body.get("reasoning_effort")
    if effort == "none":
        out["thinking"] = {"type": "disabled"}
    elif effort is not None:
        if effort not in _EFFORTS:
            raise InvalidRequest("'reasoning_effort' is not valid.", param="reasoning_effort")
        out["thinking"] = {"type": "adaptive"}
        config["effort"] = _EFFORTS[effort]
    fmt = _response_format(body.get("response_format"))
    if fmt is not None:
        config["format"] = fmt
    if config:
        out["output_config"] = config


def chat_to_messages(body: dict[str, Any], *, upstream_model: str, max_tokens: int) -> dict[str, Any]:
    """An OpenAI chat request → a Claude Messages request for ``upstream_model`` with ``max_tokens``.

    Raises:
        InvalidRequest: a field or part that has no faithful Claude equivalent.
    """
    _check_chat_fields(body)
    system, messages = _chat_turns(body.get("messages") or [])
    out: dict[str, Any] = {"model": upstream_model, "max_tokens": max_tokens, "messages": messages}
    if system:
        out["system"] = system
    if body.get("stream"):
        out["stream"] = True
    stop = body.get("stop")
    if stop is not None:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("temperature"), int | float):
        out["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)  # OpenAI 0–2, Claude 0–1
    if isinstance(body.get("top_p"), int | float):
        out["top_p"] = body["top_p"]
    _chat_tooling(body, out)
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    _chat_output_config(body, out)
    return out


# ---- Claude → OpenAI chat ---------------------------------------------------------------------------

_TO_OPENAI = "when the model is served by an OpenAI-format channel"
_MESSAGES_IGNORED = frozenset({"cache_control", "service_tier"})
_MESSAGES_HANDLED = frozenset(
    {"model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p", "tools",
     "tool_choice", "thinking", "output_config", "metadata", "stream"}
)  # fmt: skip
_OPENAI_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def _data_url(source: dict[str, Any], field: str) -> str:
    media, data = source.get("media_type"), source.get("data")
    if not isinstance(media, str) or not isinstance(data, str):
        raise InvalidRequest(f"A base64 {field} source needs 'media_type' and 'data'.", param="messages")
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"A base64 {field} source is not base64.", param="messages") from None
    return f"data:{media};base64,{data}"


def _user_parts(content: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Claude user turn → (OpenAI tool messages, OpenAI user content parts)."""
    if isinstance(content, str):
        return [], [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest("A message's 'content' must be a string or an array of blocks.", param="messages")
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            source = block.get("source") or {}
            if source.get("type") == "base64":
                parts.append({"type": "image_url", "image_url": {"url": _data_url(source, "image")}})
            elif source.get("type") == "url" and isinstance(source.get("url"), str):
                parts.append({"type": "image_url", "image_url": {"url": source["url"]}})
            else:
                raise _unsupported(f"image source {source.get('type')!r}", _TO_OPENAI)
        elif kind == "document":
            source = block.get("source") or {}
            if source.get("type") != "base64" or source.get("media_type") != "application/pdf":
                raise _unsupported("document (other than base64 PDF)", _TO_OPENAI)
            parts.append(
                {"type": "file", "file": {"filename": "document.pdf", "file_data": _data_url(source, "document")}}
            )
        elif kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                raise InvalidRequest("A tool_result needs a 'tool_use_id'.", param="messages")
            text = _text_of(block.get("content"), "messages")
            if block.get("is_error"):
                text = "Error: " + text  # OpenAI tool messages carry no error flag; the text says it
            tools.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
        else:
            raise _unsupported(f"content block type {kind!r}", _TO_OPENAI)
    return tools, parts


def _assistant_message(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise InvalidRequest("A message's 'content' must be a string or an array of blocks.", param="messages")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise InvalidRequest("A tool_use block needs an 'id' and a 'name'.", param="messages")
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # signed Claude reasoning means nothing to another model; it only informed that turn
        else:
            raise _unsupported(f"content block type {kind!r}", _TO_OPENAI)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _messages_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    out = []
    for tool in tools:
        if (
            not isinstance(tool, dict)
            or tool.get("type") not in (None, "custom")
            or not isinstance(tool.get("name"), str)
        ):
            raise _unsupported("server tools", _TO_OPENAI)
        fn: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        if tool.get("strict") is True:
            fn["strict"] = True
        out.append({"type": "function", "function": fn})
    return out


def _messages_tool_choice(choice: Any) -> tuple[Any, bool]:
    if not isinstance(choice, dict):
        raise InvalidRequest("'tool_choice' must be an object.", param="tool_choice")
    kind = choice.get("type")
    no_parallel = choice.get("disable_parallel_tool_use") is True
    if kind == "auto":
        return "auto", no_parallel
    if kind == "any":
        return "required", no_parallel
    if kind == "none":
        return "none", no_parallel
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, no_parallel
    raise InvalidRequest("'tool_choice' is not valid.", param="tool_choice")


def _claude_turns(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system, "system")})
    for message in body.get("messages") or []:
        role = message.get("role")
        if role == "user":
            tools, parts = _user_parts(message.get("content"))
            messages.extend(tools)  # tool results answer the previous assistant turn: they come first
            if parts:
                plain = len(parts) == 1 and parts[0]["type"] == "text"
                messages.append({"role": "user", "content": parts[0]["text"] if plain else parts})
        elif role == "assistant":
            messages.append(_assistant_message(message.get("content")))
        else:
            raise InvalidRequest(f"Message role {role!r} is not valid (user or assistant).", param="messages")
    return messages


def _claude_options(body: dict[str, Any], out: dict[str, Any], reasoning: bool) -> None:
    if body.get("tools"):
        out["tools"] = _messages_tools(body["tools"])
    if body.get("tool_choice") is not None:
        out["tool_choice"], no_parallel = _messages_tool_choice(body["tool_choice"])
        if no_parallel and out.get("tools"):
            out["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    config = body.get("output_config") or {}
    if not isinstance(config, dict):
        raise InvalidRequest("'output_config' must be an object.", param="output_config")
    effort = config.get("effort")
    if effort is not None:
        if effort not in _OPENAI_EFFORT:
            raise InvalidRequest("'output_config.effort' is not valid.", param="output_config")
        out["reasoning_effort"] = _OPENAI_EFFORT[effort]
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "disabled" and reasoning:
        out["reasoning_effort"] = "none"
    fmt = config.get("format")
    if isinstance(fmt, dict):
        if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise _unsupported("output_config.format", _TO_OPENAI + " (json_schema only)")
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}


def messages_to_chat(body: dict[str, Any], *, upstream_model: str, max_tokens: int, reasoning: bool) -> dict[str, Any]:
    """A Claude Messages request → an OpenAI chat request for ``upstream_model``.

    ``reasoning`` selects ``max_completion_tokens`` (reasoning models refuse ``max_tokens``).

    Raises:
        InvalidRequest: a field or block that has no faithful OpenAI equivalent.
    """
    unknown = sorted(set(body) - _MESSAGES_HANDLED - _MESSAGES_IGNORED)
    if unknown:
        raise _unsupported(unknown[0], _TO_OPENAI)
    out: dict[str, Any] = {"model": upstream_model, "messages": _claude_turns(body)}
    out["max_completion_tokens" if reasoning else "max_tokens"] = max_tokens
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    for name in ("temperature", "top_p"):
        if isinstance(body.get(name), int | float):
            out[name] = body[name]
    _claude_options(body, out, reasoning)
    return out
