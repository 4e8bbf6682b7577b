"""Stream meters for Claude traffic: native Messages streams, and the two cross-format streams.

Each meter reads one upstream SSE event at a time, returns the bytes the client gets, and keeps the
usage the request is billed by — always in the *upstream's* convention, converted once:

- :class:`ClaudeMeter` — Claude upstream, Claude client: events forwarded unchanged. Usage per field is
  the last ``message_delta`` value (cumulative totals), else the ``message_start`` value. Only the
  events that carry usage or end the stream are parsed (text deltas are counted, not decoded).
- :class:`ClaudeToChatMeter` — Claude upstream, OpenAI client: chat chunks out.
- :class:`ChatToClaudeMeter` — OpenAI upstream, Claude client: Claude events out.

Every converted stream ends properly: ``message_delta`` + ``message_stop`` (or a finish chunk, the usage
chunk when asked for, and ``[DONE]``) on tool turns and refusals, also when the upstream ends without
its terminator; an upstream that breaks gets the open blocks closed and an ``error`` event in the
client's format (the SDKs raise it), never a silent hang.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.anthropic.responses import finish_reason_of, stop_reason_of
from tollway.anthropic.usage import (
    claude_usage_of,
    claude_usage_to_openai,
    merge_stream_usage,
    openai_chat_usage_of,
    openai_usage_to_claude,
)
from tollway.metering.fields import dicts
from tollway.metering.fields import obj as as_object
from tollway.metering.stream import StreamBroke, event_object
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent

__all__ = ["ChatToClaudeMeter", "ClaudeMeter", "ClaudeToChatMeter", "claude_event"]

_DONE = b"data: [DONE]\n\n"
_STOP_EVENT = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA_EVENT = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'
_THINKING_DELTA = b',"delta":{"type":"thinking_delta","thinking":'


def claude_event(kind: str, data: dict[str, Any]) -> bytes:
    """One Claude SSE event: an ``event:`` line (the SDK dispatches on it) and the same ``type`` in data."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def claude_error_event(error_type: str, message: str) -> bytes:
    return claude_event("error", {"type": "error", "error": {"type": error_type, "message": message}})


def _key(index: Any) -> Any:
    """A block or tool-call index as a dict key: a list or an object (no index an upstream means) becomes
    its JSON text instead of raising out of the stream."""
    return orjson.dumps(index).decode() if isinstance(index, list | dict) else index


def _upstream_error(obj: dict[str, Any]) -> StreamBroke:
    error = obj.get("error")
    return StreamBroke("upstream error mid-stream", error if isinstance(error, dict) else None)


class _ClaudeUsage:
    """The billing usage of a Claude stream (``message_start`` then cumulative ``message_delta``)."""

    def __init__(self) -> None:
        self.start: dict[str, Any] | None = None
        self.delta: dict[str, Any] | None = None

    def on_start(self, obj: dict[str, Any]) -> None:
        message = obj.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            self.start = usage

    def on_delta(self, obj: dict[str, Any]) -> None:
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.delta = merge_stream_usage(self.delta, usage)

    @property
    def final(self) -> Usage | None:
        """Authoritative only once a ``message_delta`` brought the output count."""
        if self.delta is None or "output_tokens" not in self.delta:
            return None
        return claude_usage_of(merge_stream_usage(self.start, self.delta))

    def merged(self) -> dict[str, Any]:
        return merge_stream_usage(self.start, self.delta)


class ClaudeMeter:
    """Claude upstream → Claude client, events forwarded as they came."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._usage = _ClaudeUsage()

    @property
    def start_usage(self) -> dict[str, Any] | None:
        """``message_start``'s usage (the input counts an estimate starts from)."""
        return self._usage.start

    def on_event(self, event: SSEEvent) -> bytes | None:
        kind = event.event
        if kind == "content_block_delta":
            self.produced_output += 1  # one token per delta at least; decoded only when it matters
            return event.raw
        if event.data is None:
            return None  # comments; tollway sends its own heartbeats
        if kind in ("ping", "content_block_start", "content_block_stop"):
            return event.raw
        obj = event_object(event.data or b"")
        kind = kind or obj.get("type")
        if kind == "error" or obj.get("type") == "error":
            raise _upstream_error(obj)
        if kind == "message_start":
            self._usage.on_start(obj)
        elif kind == "message_delta":
            self._usage.on_delta(obj)
            self.usage = self._usage.final
        elif kind == "message_stop":
            self.done = True
        return event.raw

    def tail(self) -> bytes:
        """The upstream ended after its usage but without ``message_stop``: end the stream for it."""
        return _STOP_EVENT

    def broken(self, message: str, error: dict[str, Any] | None) -> bytes:
        etype = str((error or {}).get("type") or "api_error")
        return claude_error_event(etype, str((error or {}).get("message") or message))


class ClaudeToChatMeter:
    """Claude upstream → OpenAI chat client."""

    def __init__(self, *, model: str, created: int, client_wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._usage = _ClaudeUsage()
        self._model = model
        self._created = created
        self._wants_usage = client_wants_usage
        self._id = "chatcmpl-tollway"
        self._tools: dict[int, int] = {}  # Claude block index → OpenAI tool-call index (from 0)
        self._finished = False
        self._prefix: bytes | None = None

    @property
    def start_usage(self) -> dict[str, Any] | None:
        return self._usage.start

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if finish is None:
            # Content chunks (most of a stream) from a prefix built once per stream.
            if self._prefix is None:
                head = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                }
                self._prefix = b"data: " + orjson.dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'
            return self._prefix + orjson.dumps(delta) + b',"logprobs":null,"finish_reason":null}]}\n\n'
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def on_event(self, event: SSEEvent) -> bytes | None:
        if event.data is None:
            return None
        obj = event_object(event.data or b"")
        kind = event.event or obj.get("type")
        if kind == "content_block_delta":
            delta = as_object(obj.get("delta"))  # any other shape carries nothing (and never raises)
            dtype = delta.get("type")
            if dtype == "text_delta":
                self.produced_output += 1
                return self._chunk({"content": delta.get("text", "")})
            if dtype == "thinking_delta":
                self.produced_output += 1
                return self._chunk({"reasoning_content": delta.get("thinking", "")})
            if dtype == "input_json_delta":
                index = _key(obj.get("index"))
                if index in self._tools:
                    self.produced_output += 1
                    call = {"index": self._tools[index], "function": {"arguments": delta.get("partial_json", "")}}
                    return self._chunk({"tool_calls": [call]})
            return None  # signatures, citations, server-tool input: nothing an OpenAI client can use
        if kind == "content_block_start":
            block = as_object(obj.get("content_block"))
            if block.get("type") == "tool_use":
                number = len(self._tools)
                self._tools[_key(obj.get("index", -1))] = number
                call = {
                    "index": number,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return self._chunk({"tool_calls": [call]})
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            return None
        if kind == "error" or obj.get("type") == "error":
            raise _upstream_error(obj)
        if kind == "message_start":
            self._usage.on_start(obj)
            message = as_object(obj.get("message"))
            self._id = "chatcmpl-" + str(message.get("id") or "").removeprefix("msg_")
            self._prefix = None
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "message_delta":
            self._usage.on_delta(obj)
            self.usage = self._usage.final
            reason = as_object(obj.get("delta")).get("stop_reason")
            if reason is None or self._finished:
                return None
            self._finished = True
            return self._chunk({}, finish_reason_of(reason))
        if kind == "message_stop":
            self.done = True
            return self._end()
        return None  # ping, content_block_stop

    def _end(self) -> bytes:
        out = b"" if self._finished else self._chunk({}, "stop")
        self._finished = True
        if self._wants_usage and self._usage.delta is not None:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": claude_usage_to_openai(self._usage.merged()),
            }
            out += b"data: " + orjson.dumps(chunk) + b"\n\n"
        return out + _DONE

    def tail(self) -> bytes:
        return self._end()

    def broken(self, message: str, error: dict[str, Any] | None) -> bytes:
        body = {
            "error": {
                "message": str((error or {}).get("message") or message),
                "type": str((error or {}).get("type") or "upstream_error"),
                "param": None,
                "code": "upstream_error",
            }
        }
        return b"data: " + orjson.dumps(body) + b"\n\n" + _DONE


class ChatToClaudeMeter:
    """OpenAI chat upstream → Claude client. One content block per text run, reasoning run and tool call
    (keyed by the OpenAI tool-call index); the close waits for the usage chunk that follows the finish."""

    def __init__(self, *, model: str, message_id: str, input_estimate: int) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._model = model
        self._id = message_id
        self._input_estimate = input_estimate
        self._started = False
        self._open: int | None = None  # index of the open block
        self._open_kind: str | None = None  # "text" | "thinking" | "tool"
        self._next = 0
        self._tools: dict[int, int] = {}  # OpenAI tool-call index → Claude block index
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self._closed = False

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # OpenAI reports usage only at the end: the input is tollway's estimate here, and the real
            # count replaces it in message_delta (clients read that cumulatively).
            "usage": {"input_tokens": self._input_estimate, "output_tokens": 0},
        }
        return claude_event("message_start", {"type": "message_start", "message": message})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._open_kind = self._open, None, None
        return claude_event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open_block(self, kind: str, block: dict[str, Any]) -> tuple[bytes, int]:
        out = self._close_block()
        index = self._next
        self._next += 1
        self._open, self._open_kind = index, kind
        out += claude_event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        return out, index

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return claude_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, kind: str, text: str) -> bytes:
        out = b""
        index = self._open
        if self._open_kind != kind or index is None:
            block = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            out, index = self._open_block(kind, block)
        delta = {"type": "text_delta", "text": text} if kind == "text" else {"type": "thinking_delta", "thinking": text}
        return out + self._delta(index, delta)

    def _tool(self, call: dict[str, Any]) -> bytes:
        number = _key(call.get("index", 0))
        fn = as_object(call.get("function"))
        out = b""
        if number not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{number}",
                "name": fn.get("name") or "",
                "input": {},
            }
            out, self._tools[number] = self._open_block("tool", block)
        arguments = fn.get("arguments")
        if arguments:
            out += self._delta(self._tools[number], {"type": "input_json_delta", "partial_json": arguments})
        return out

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None
        if data == b"[DONE]":
            self.done = True
            return self._end()
        chunk = event_object(data)
        if chunk.get("error"):
            raise _upstream_error(chunk)
        out = self._start()
        # Choices, deltas and tool calls of any other shape carry nothing (as in the chat meter) instead
        # of raising out of the stream.
        for choice in dicts(chunk.get("choices")):
            delta = as_object(choice.get("delta"))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self.produced_output += 1
                out += self._text("thinking", reasoning)
            for text in (delta.get("content"), delta.get("refusal")):
                if isinstance(text, str) and text:
                    self.produced_output += 1
                    out += self._text("text", text)
            if delta.get("refusal"):
                self._finish = "content_filter"
            for call in dicts(delta.get("tool_calls")):
                self.produced_output += 1
                out += self._tool(call)
            if choice.get("finish_reason") and self._finish != "content_filter":
                self._finish = choice["finish_reason"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
            self.usage = openai_chat_usage_of(usage)
        return out or None

    def _end(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        out = self._start() + self._close_block()
        usage = openai_usage_to_claude(self._usage) if self._usage else {"output_tokens": self.produced_output}
        stop = stop_reason_of(self._finish, used_tools=bool(self._tools))
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}
        return out + claude_event("message_delta", delta) + _STOP_EVENT

    def tail(self) -> bytes:
        return self._end()

    def broken(self, message: str, error: dict[str, Any] | None) -> bytes:
        self._closed = True
        out = self._start() + self._close_block()
        return out + claude_error_event("api_error", str((error or {}).get("message") or message))
