"""Anthropic's Messages API: `POST /v1/messages` (streaming and not) and `POST /v1/messages/count_tokens`.

Wire format as Anthropic sends it: `event:` + `data:` lines, `ping`, usage in `message_start` and
(cumulative) in `message_delta`, text / thinking (with a signature) / tool_use blocks, cache counts from a
per-key prompt cache (`prompt_cache.py`). Usage formula: `message_usage.py` (docs/mock-upstream.md).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.errors import MockHTTPError, bad_request
from tollway_local.mock.message_usage import (
    MessagePlan,
    breakpoints,
    count_input_tokens,
    lookup_points,
    message_texts,
    plan_message,
    thinking_signature,
    validate_request,
)
from tollway_local.mock.prompt_cache import cache_of
from tollway_local.mock.responses import POST, PRE, TOKEN, USAGE, Event, EventStream, JSONResult
from tollway_local.mock.text import VOCABULARY, messages_seed, token_ids

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from starlette.types import ASGIApp

    from tollway_local.mock.config import MockConfig
    from tollway_local.mock.context import MockRequest

#: Thinking text uses another PRNG stream than the visible text, so the two never repeat each other.
THINKING_CHOICE = 1000


def fault_texts(body: Any) -> Iterable[str]:
    """`[[fault:MODE]]` markers are read from the system prompt and every message."""
    return message_texts(body)


def api_key_of(headers: dict[str, str]) -> str:
    """The request's key: `x-api-key`, else a Bearer token (the `anthropic` SDK 2.x sends its API key as
    `Authorization: Bearer`, and Anthropic's API takes either)."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    authorization = headers.get("authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""


def check_anthropic_headers(headers: dict[str, str], config: MockConfig, *, versioned: bool) -> None:
    """Anthropic's own checks: a key (`x-api-key` or Bearer) and, on the Messages endpoints, an
    `anthropic-version` (any value: the SDK 1.x sends 2023-06-01, 2.x sends 2026-10-21).

    Raises:
        MockHTTPError: 401 `authentication_error`, 400 for a missing version.
    """
    key = api_key_of(headers)
    if not key:
        raise MockHTTPError(401, "x-api-key header is required")
    if config.api_key is not None and not hmac.compare_digest(key.encode(), config.api_key.encode()):
        raise MockHTTPError(401, "invalid x-api-key")
    if versioned and not headers.get("anthropic-version", "").strip():
        raise bad_request("anthropic-version: header is required")


def _check_signatures(req: MockRequest, messages: list[dict[str, Any]], model: str) -> None:
    """Thinking blocks sent back must carry the signature this key and model gave them."""
    key = api_key_of(req.headers)
    for m_index, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for b_index, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "thinking":
                continue
            expected = thinking_signature(key, model, str(block.get("thinking", "")))
            if not hmac.compare_digest(str(block.get("signature", "")).encode(), expected.encode()):
                raise bad_request(f"messages.{m_index}.content.{b_index}: Invalid `signature` in `thinking` block")


def _words(seed: int, choice: int, count: int) -> list[str]:
    return [VOCABULARY[i] for i in token_ids(seed, choice, count)]


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class _Answer:
    """The blocks of one answer, shared by the streaming and the non-streaming form."""

    def __init__(self, req: MockRequest, plan: MessagePlan, model: str) -> None:
        body = req.body
        seed = messages_seed(body["messages"])
        self.req, self.plan, self.model = req, plan, model
        self.thinking_words = _words(seed, THINKING_CHOICE, plan.thinking_tokens) if plan.thinking else []
        display = body.get("thinking", {}).get("display") if isinstance(body.get("thinking"), dict) else None
        self.omitted = display == "omitted"
        thinking_text = "" if self.omitted else "".join(self.thinking_words)
        self.thinking_text = thinking_text
        self.signature = thinking_signature(api_key_of(req.headers), model, thinking_text)
        self.text_words = _words(seed, 0, plan.text_tokens)
        self.id = f"msg_{req.request_id}"

    def content(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.plan.thinking:
            blocks.append({"type": "thinking", "thinking": self.thinking_text, "signature": self.signature})
        if self.text_words or not self.plan.tool_calls:
            blocks.append({"type": "text", "text": "".join(self.text_words).lstrip()})
        blocks += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input} for call in self.plan.tool_calls
        ]
        return blocks

    def stop_details(self) -> dict[str, Any] | None:
        if self.plan.stop_reason != "refusal":
            return None
        return {"type": "refusal", "category": "general_harms", "explanation": "The mock refuses on [[refusal]]."}

    def message(self, *, with_usage: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.content(),
            "stop_reason": self.plan.stop_reason,
            "stop_sequence": self.plan.stop_sequence,
            "stop_details": self.stop_details(),
            "container": None,
            "usage": self.plan.usage(),
        }
        if not with_usage:
            del payload["usage"]
        return payload

    def events(self, *, with_usage: bool, empty: bool) -> Iterator[Event]:
        """The SSE events, built lazily; `step` counts content deltas (pacing and `*_after=K`)."""
        plan = self.plan
        if empty:  # `empty_stream`: only the terminal event
            yield (POST, 0, _event("message_stop", {"type": "message_stop"}))
            return
        start_usage = dict(plan.usage())
        start_usage["output_tokens"] = 1  # as Anthropic: the real count comes in message_delta
        start = self.message(with_usage=True) | {"content": [], "stop_reason": None, "stop_sequence": None}
        start["stop_details"] = None
        start["usage"] = start_usage
        yield (PRE, 0, _event("message_start", {"type": "message_start", "message": start}))
        index, step = 0, 0
        if plan.thinking:
            yield (PRE, 0, _block_start(index, {"type": "thinking", "thinking": "", "signature": ""}))
            yield (PRE, 0, _event("ping", {"type": "ping"}))
            for word in self.thinking_words:
                piece = "" if self.omitted else word
                yield (TOKEN, step, _delta(index, {"type": "thinking_delta", "thinking": piece}))
                step += 1
            yield (POST, 0, _delta(index, {"type": "signature_delta", "signature": self.signature}))
            yield (POST, 0, _block_stop(index))
            index += 1
        if self.text_words or not plan.tool_calls:
            yield (PRE if step == 0 else POST, 0, _block_start(index, {"type": "text", "text": ""}))
            if index == 0:
                yield (PRE, 0, _event("ping", {"type": "ping"}))
            for n, word in enumerate(self.text_words):
                yield (TOKEN, step, _delta(index, {"type": "text_delta", "text": word.lstrip() if n == 0 else word}))
                step += 1
            yield (POST, 0, _block_stop(index))
            index += 1
        for call in plan.tool_calls:
            yield (POST, 0, _block_start(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}))
            arguments = orjson.dumps(call.input).decode()
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                yield (TOKEN, step, _delta(index, {"type": "input_json_delta", "partial_json": piece}))
                step += 1
            yield (POST, 0, _block_stop(index))
            index += 1
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {
                "stop_reason": plan.stop_reason,
                "stop_sequence": plan.stop_sequence,
                "stop_details": self.stop_details(),
            },
        }
        if with_usage:
            usage = plan.usage()
            usage.pop("cache_creation")  # message_delta's usage has no TTL split, as Anthropic's
            usage.pop("service_tier")
            delta["usage"] = usage
            yield (USAGE, 0, _event("message_delta", delta))
        else:
            yield (POST, 0, _event("message_delta", delta))
        yield (POST, 0, _event("message_stop", {"type": "message_stop"}))


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def betas_of(headers: dict[str, str]) -> frozenset[str]:
    return frozenset(flag.strip() for flag in headers.get("anthropic-beta", "").split(",") if flag.strip())


async def create_message(req: MockRequest) -> ASGIApp:
    body = req.body
    betas = betas_of(req.headers)
    messages = validate_request(body, betas=betas)
    model: str = body["model"]
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: Input should be a valid boolean", param="stream")
    _check_signatures(req, messages, model)
    key = api_key_of(req.headers)
    cache = cache_of(req.stats)
    points = breakpoints(body)
    plan = plan_message(
        body,
        cache.cached(key, (p.prefix_hash for p in lookup_points(body))),
        default_completion_tokens=req.config.default_completion_tokens,
        id_seed=req.request_id,
        betas=betas,
    )
    cache.store(key, points)
    req.record.tokens_planned = plan.delta_events
    answer = _Answer(req, plan, model)
    with_usage = not req.faults.no_usage
    if stream:
        return EventStream(
            req,
            answer.events(with_usage=with_usage, empty=req.faults.empty_stream),
            total_tokens=plan.delta_events,
            usage=plan.usage(),
        )
    payload = answer.message(with_usage=with_usage)
    delay = req.pacing.delay_before(plan.delta_events)
    return JSONResult(req, payload, delay_s=delay, usage=payload.get("usage"))


async def count_tokens(req: MockRequest) -> ASGIApp:
    """`{"input_tokens": n}`: every input token (cached or not) of the same body `create` takes."""
    validate_request(req.body, for_count=True, betas=betas_of(req.headers))
    return JSONResult(req, {"input_tokens": count_input_tokens(req.body)}, delay_s=req.pacing.latency_s)
