"""The mock upstream's Amazon Bedrock runtime dialect.

Paths (after any prefix, so ``/fault/throttling/model/…`` works): ``/model/{id}/invoke``,
``/model/{id}/invoke-with-response-stream`` (Claude's native Anthropic body), ``/model/{id}/converse``
and ``/model/{id}/converse-stream`` (any model). Requests must carry a SigV4 ``Authorization`` header
of the right shape for the ``bedrock`` service and an ``X-Amz-Date`` (the signature itself is not
checked: the mock does not know the secret). Streams are AWS event-stream frames with real CRCs;
Claude's last event carries ``amazon-bedrock-invocationMetrics``, ConverseStream ends with
``metadata`` usage. Errors are AWS-shaped: ``x-amzn-ErrorType`` and ``{"message": …}``.

Answers are deterministic: the mock vocabulary seeded by the request body, ``[[len=N]]`` (default 24)
output tokens capped by the request's max tokens, one prompt token per word. Claude ``cache_control`` works like a
real prompt cache keyed by the signing access key: the prefix up to the last marked block is written
on first sight (5-minute or 1-hour by its ``ttl``) and read afterwards. With ``tools`` offered and a
user turn last, the model calls the first tool; after a tool result it answers in text.

Faults (path segment ``/fault/<mode>/`` or a ``[[fault:<mode>]]`` marker in the prompt):
``throttling``, ``quota`` (``ServiceQuotaExceededException``), ``not_ready``, ``access_denied``,
``validation``, ``http500``, ``stream_throttling`` (200, then a throttling exception frame),
``cut`` (the stream stops mid-way), ``bad_crc`` (a frame with a wrong checksum), ``no_usage``
(no usage events and no metrics).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from typing import TYPE_CHECKING, Any

import orjson
from tollway.bedrock.eventstream import encode_frame

from tollway_local.mock.faults import specs_from_path, split_specs
from tollway_local.mock.responses import send_whole
from tollway_local.mock.text import VOCABULARY, token_ids

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from tollway_local.mock.app import MockDispatcher
    from tollway_local.mock.stats import RequestRecord

__all__ = ["BEDROCK_PATH", "handle_bedrock"]

BEDROCK_PATH = re.compile(r"/model/([^/]+)/(invoke|invoke-with-response-stream|converse|converse-stream)$")
_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]{4,128})/(\d{8})/([a-z0-9-]+)/bedrock/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$"
)
_MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")
_ERRORS = {
    "throttling": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "quota": (400, "ServiceQuotaExceededException", "Your request exceeds the service quota for your account."),
    "not_ready": (429, "ModelNotReadyException", "The model is not ready to serve inference requests."),
    "access_denied": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    "validation": (400, "ValidationException", "The provided request is not valid (mock validation fault)."),
    "http500": (500, "InternalServerException", "The server encountered an internal error."),
}
_KNOWN = {*_ERRORS, "stream_throttling", "cut", "bad_crc", "no_usage"}
# Prompt caches by access key: prefix digest → tokens (a real cache is per account and region).
_CACHES: dict[str, set[str]] = {}


class _Refusal(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def _texts(value: Any) -> list[str]:
    """Every string under ``text``/``content``-like keys of a JSON value (for counting and faults)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k in ("text", "content", "system", "messages") for t in _texts(v)]
    return []


def _words(value: Any) -> int:
    return sum(len(t.split()) for t in _texts(value))


def _check_signature(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if not auth:
        raise _Refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _SIGV4.match(auth)
    signed = set(match.group(4).split(";")) if match else set()
    if match is None or not {"host", "x-amz-date"} <= signed or "x-amz-date" not in headers:
        raise _Refusal(403, "IncompleteSignatureException", "The request signature is not a valid SigV4 signature.")
    return match.group(1)


def _faults(path: str, body: Any) -> set[str]:
    specs = set(specs_from_path(path))
    for text in _texts(body):
        for found in _MARKER.findall(text):
            specs.update(split_specs(found))
    unknown = specs - _KNOWN
    if unknown:
        raise _Refusal(400, "ValidationException", f"mock bedrock: unknown fault modes {sorted(unknown)}")
    return specs


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error_headers(name: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/".encode()),
        (b"x-amzn-requestid", b"mock-error"),
    ]


async def handle_bedrock(dispatcher: MockDispatcher, scope: Scope, receive: Receive, send: Send) -> None:
    path: str = scope["path"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    record = dispatcher.stats.new_record(scope["method"], path, "", headers)
    match = BEDROCK_PATH.search(path)
    model, action = (match.group(1), match.group(2)) if match else ("", "invoke")  # the caller matched it
    record.endpoint = f"bedrock:{action}"
    record.stream = action.endswith("stream")
    try:
        if scope["method"] != "POST":
            raise _Refusal(405, "UnknownOperationException", "Only POST is served.")
        access_key = _check_signature(headers)
        raw = await _read(receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _Refusal(400, "ValidationException", "Malformed input request, please reformat your input.") from None
        if not isinstance(body, dict):
            raise _Refusal(400, "ValidationException", "The request body must be a JSON object.")
        record.body = body
        faults = _faults(path, body)
        record.faults = tuple(sorted(faults))
        for mode, (status, name, message) in _ERRORS.items():
            if mode in faults:
                raise _Refusal(status, name, message)
        if action.startswith("invoke"):
            answer = _claude_answer(model, body, access_key, faults)
        else:
            answer = _converse_answer(body, faults)
    except _Refusal as refusal:
        record.status, record.error_code, record.outcome = refusal.status, refusal.name, "completed"
        await send_whole(send, refusal.status, _error_headers(refusal.name), orjson.dumps({"message": refusal.message}))
        return
    record.status, record.tokens_planned = 200, answer.tokens
    record.usage = answer.usage
    request_id = [(b"x-amzn-requestid", f"mock-{record.mock_request_id}".encode())]
    if not record.stream:
        await send_whole(send, 200, [(b"content-type", b"application/json"), *request_id], orjson.dumps(answer.whole))
        record.tokens_sent, record.outcome = answer.tokens, "completed"
        return
    await _stream(dispatcher, send, record, answer, faults, request_id)


class _Answer:
    def __init__(self, whole: dict[str, Any], frames: list[bytes], tokens: int, usage: dict[str, Any]) -> None:
        self.whole, self.frames, self.tokens, self.usage = whole, frames, tokens, usage


def _event(kind: str, data: dict[str, Any]) -> bytes:
    data = {**data, "p": "abcdefghij"[: len(kind) % 10]}  # Bedrock pads events to hide their size
    return encode_frame(
        {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, orjson.dumps(data)
    )


def _chunk(event: dict[str, Any]) -> bytes:
    return _event("chunk", {"bytes": base64.b64encode(orjson.dumps(event)).decode()})


_LEN = re.compile(r"\[\[len=(\d{1,5})\]\]")


def _plan(body: dict[str, Any], limit: Any) -> tuple[list[str], int]:
    """The answer's words: ``[[len=N]]`` in the prompt asks for N, else 24; never above the limit."""
    asked = [int(n) for t in _texts(body.get("messages")) for n in _LEN.findall(t)]
    count = asked[-1] if asked else 24
    if isinstance(limit, int) and limit > 0:
        count = min(count, limit)
    seed = int.from_bytes(hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()[:8], "big")
    return [VOCABULARY[i] for i in token_ids(seed, 0, count)], count


def _claude_cache(body: dict[str, Any], access_key: str) -> tuple[int, int, int, int]:
    """(uncached input, cache read, 5-minute write, 1-hour write) of a Claude request."""
    total = max(_words(body.get("system")) + _words(body.get("messages")), 1)
    parts: list[Any] = []
    system = body.get("system")
    parts.extend(system if isinstance(system, list) else [system] if system else [])
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        parts.extend(content if isinstance(content, list) else [content])
    marked = [i for i, p in enumerate(parts) if isinstance(p, dict) and isinstance(p.get("cache_control"), dict)]
    if not marked:
        return total, 0, 0, 0
    prefix = parts[: marked[-1] + 1]
    prefix_tokens = min(_words(prefix) or 1, total)
    ttl = parts[marked[-1]]["cache_control"].get("ttl")
    digest = hashlib.sha256(orjson.dumps(prefix, option=orjson.OPT_SORT_KEYS)).hexdigest()
    seen = _CACHES.setdefault(access_key, set())
    if digest in seen:
        return total - prefix_tokens, prefix_tokens, 0, 0
    seen.add(digest)
    return (total - prefix_tokens, 0, 0, prefix_tokens) if ttl == "1h" else (total - prefix_tokens, 0, prefix_tokens, 0)


def _wants_tool(body: dict[str, Any], tools_key: str) -> dict[str, Any] | None:
    tools = body.get(tools_key)
    if isinstance(tools, dict):
        tools = tools.get("tools")
    messages = body.get("messages") or []
    if not tools or not messages:
        return None
    last = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    blocks = last if isinstance(last, list) else []
    if any(isinstance(b, dict) and ({"tool_result", "toolResult"} & ({str(b.get("type"))} | set(b))) for b in blocks):
        return None
    first = tools[0]
    return first.get("toolSpec", first) if isinstance(first, dict) else None


def _claude_answer(model: str, body: dict[str, Any], access_key: str, faults: set[str]) -> _Answer:
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        raise _Refusal(400, "ValidationException", "anthropic_version: must be bedrock-2023-05-31")
    if "model" in body or "stream" in body:
        raise _Refusal(400, "ValidationException", "extraneous key [model/stream] is not permitted")
    words, count = _plan(body, body.get("max_tokens"))
    uncached, read, write5, write1h = _claude_cache(body, access_key)
    tool = _wants_tool(body, "tools")
    usage: dict[str, Any] = {
        "input_tokens": uncached,
        "cache_creation_input_tokens": write5 + write1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write5, "ephemeral_1h_input_tokens": write1h},
        "output_tokens": count,
    }
    stop = "tool_use" if tool else ("max_tokens" if count == body.get("max_tokens") else "end_turn")
    message_id = "msg_bdrk_" + hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
    if tool:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_bdrk_" + message_id[-12:],
            "name": tool["name"],
            "input": {"q": "mock"},
        }
    else:
        block = {"type": "text", "text": "".join(words)}
    whole = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    start_usage = {**usage, "output_tokens": 1}
    frames = [
        _chunk(
            {
                "type": "message_start",
                "message": {
                    **whole,
                    "content": [],
                    "stop_reason": None,
                    "usage": start_usage if "no_usage" not in faults else {},
                },
            }
        )
    ]
    if tool:
        frames.append(_chunk({"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}))
        frames.append(
            _chunk(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": '{"q": "mock"}'},
                }
            )
        )
    else:
        frames.append(
            _chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        )
        frames.extend(
            _chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})
            for w in words
        )
    frames.append(_chunk({"type": "content_block_stop", "index": 0}))
    delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
    if "no_usage" not in faults:
        delta["usage"] = {"output_tokens": count}
    frames.append(_chunk(delta))
    stop_event: dict[str, Any] = {"type": "message_stop"}
    if "no_usage" not in faults:
        stop_event["amazon-bedrock-invocationMetrics"] = {
            "inputTokenCount": uncached,
            "outputTokenCount": count,
            "invocationLatency": 5,
            "firstByteLatency": 1,
            "cacheReadInputTokenCount": read,
            "cacheWriteInputTokenCount": write5 + write1h,
        }
    frames.append(_chunk(stop_event))
    return _Answer(whole, frames, len(words) if not tool else 1, usage)


def _converse_answer(body: dict[str, Any], faults: set[str]) -> _Answer:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
        raise _Refusal(400, "ValidationException", "A conversation must start with a user message.")
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    words, count = _plan(body, limit)
    tool = _wants_tool(body, "toolConfig")
    prompt = max(_words(body.get("system")) + _words(messages), 1)
    usage = {
        "inputTokens": prompt,
        "outputTokens": count,
        "totalTokens": prompt + count,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }
    stop = "tool_use" if tool else ("max_tokens" if count == limit else "end_turn")
    if tool:
        block: dict[str, Any] = {
            "toolUse": {"toolUseId": "tooluse_mock1", "name": tool["name"], "input": {"q": "mock"}}
        }
    else:
        block = {"text": "".join(words)}
    whole = {
        "output": {"message": {"role": "assistant", "content": [block]}},
        "stopReason": stop,
        "usage": usage,
        "metrics": {"latencyMs": 5},
    }
    frames = [_event("messageStart", {"role": "assistant"})]
    if tool:
        frames.append(
            _event(
                "contentBlockStart",
                {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_mock1", "name": tool["name"]}}},
            )
        )
        frames.append(
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"q": "mock"}'}}})
        )
    else:
        frames.extend(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": w}}) for w in words)
    frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(_event("messageStop", {"stopReason": stop}))
    if "no_usage" not in faults:
        frames.append(_event("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}))
    return _Answer(whole, frames, len(words) if not tool else 1, usage)


async def _stream(
    dispatcher: MockDispatcher,
    send: Send,
    record: RequestRecord,
    answer: _Answer,
    faults: set[str],
    extra: list[tuple[bytes, bytes]],
) -> None:
    headers = [(b"content-type", b"application/vnd.amazon.eventstream"), *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    frames = list(answer.frames)
    if "stream_throttling" in faults:
        frames = [
            encode_frame(
                {
                    ":exception-type": "throttlingException",
                    ":content-type": "application/json",
                    ":message-type": "exception",
                },
                b'{"message":"Too many tokens, please wait before trying again."}',
            )
        ]
    if "cut" in faults:
        frames = frames[: len(frames) // 2]
    if "bad_crc" in faults:
        middle = bytearray(frames[len(frames) // 2])
        middle[-1] ^= 0xFF
        frames[len(frames) // 2] = bytes(middle)
    pacing = dispatcher.config
    interval = 0.0 if pacing.tokens_per_s <= 0 else 1.0 / pacing.tokens_per_s
    try:
        if pacing.latency_ms > 0:
            await asyncio.sleep(pacing.latency_ms / 1000.0)
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            record.tokens_sent += 1
            if interval:
                await asyncio.sleep(interval)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        record.outcome = "cut" if "cut" in faults else "completed"
    except OSError:
        record.outcome = "client_disconnected"
