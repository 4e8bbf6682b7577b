"""`POST /v1/chat/completions`, streaming and not (wire format: reference §3.1–3.2)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.errors import bad_request
from tollway_local.mock.message_usage import schema_value
from tollway_local.mock.responses import POST, PRE, TOKEN, USAGE, Event, EventStream, JSONResult
from tollway_local.mock.text import VOCABULARY, VOCABULARY_JSON, messages_seed, token_ids
from tollway_local.mock.usage import ChatPlan, function_tools, message_texts, plan_chat

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

SYSTEM_FINGERPRINT = "fp_mock"
DONE = b"data: [DONE]\n\n"


def fault_texts(body: Any) -> Iterable[str]:
    """`[[fault:MODE]]` markers are read from every message's text."""
    return message_texts(body.get("messages")) if isinstance(body, dict) else []


def tool_calls_of(req: MockRequest, plan: ChatPlan, choice: int) -> list[dict[str, Any]]:
    """The tool calls of one choice: the request's first function tools, cycled, with arguments built from
    their JSON schema; ids unique per request and choice."""
    tools = function_tools(req.body)
    calls = []
    for i in range(plan.tool_calls_per_choice):
        tool = tools[i % len(tools)]
        arguments = schema_value(tool.get("parameters") or {"type": "object"})
        calls.append(
            {
                "id": f"call_{req.request_id.removeprefix('mock-').replace('-', '')}_{choice}_{i}",
                "type": "function",
                "function": {"name": tool["name"], "arguments": orjson.dumps(arguments).decode()},
            }
        )
    return calls


@functools.cache
def _token_parts(with_usage_null: bool, obfuscate: bool) -> tuple[bytes, ...]:
    """Per vocabulary word: everything of a content chunk after `{"index":i,` — built once per variant."""
    parts: list[bytes] = []
    for word, word_json in zip(VOCABULARY, VOCABULARY_JSON, strict=True):
        tail = b',"usage":null' if with_usage_null else b""
        if obfuscate:
            # OpenAI pads chunks so their length does not reveal the token; any stable string will do here.
            tail += b',"obfuscation":"' + b"x" * (16 - len(word)) + b'"'
        parts.append(b'"delta":{"content":' + word_json + b'},"logprobs":null,"finish_reason":null}]' + tail + b"}\n\n")
    return tuple(parts)


def served_tier(body: dict[str, Any]) -> str:
    """The tier the mock reports: an explicitly requested flex/priority/scale tier is granted, as OpenAI
    does when the project has it; otherwise "default"."""
    tier = body.get("service_tier")
    return tier if tier in ("flex", "priority", "scale") else "default"


def _chunk_events(req: MockRequest, plan: ChatPlan, *, cid: str, created: int, model: str) -> Iterator[Event]:
    """The SSE events of a streamed answer, built lazily (a long answer is never held in memory)."""
    body, faults = req.body, req.faults
    if faults.empty_stream:
        yield (POST, 0, DONE)
        return
    options = body.get("stream_options")
    options = options if isinstance(options, dict) else {}
    with_usage = options.get("include_usage") is True and not faults.no_usage
    obfuscate = options.get("include_obfuscation") is not False
    head = b"".join(
        (
            b'data: {"id":',
            orjson.dumps(cid),
            b',"object":"chat.completion.chunk","created":',
            str(created).encode(),
            b',"model":',
            orjson.dumps(model),
            b',"service_tier":'
            + orjson.dumps(served_tier(body))
            + b',"system_fingerprint":"'
            + SYSTEM_FINGERPRINT.encode()
            + b'","choices":[',
        )
    )
    tail = b'],"usage":null}\n\n' if with_usage else b"]}\n\n"
    indexes = [b'{"index":%d,' % i for i in range(plan.n)]
    for index in indexes:
        yield (
            PRE,
            0,
            head + index + b'"delta":{"role":"assistant","content":"","refusal":null},'
            b'"logprobs":null,"finish_reason":null}' + tail,
        )
    parts = _token_parts(with_usage, obfuscate)
    seed = messages_seed(body["messages"])
    choices = [token_ids(seed, i, plan.visible_per_choice) for i in range(plan.n)]
    for step in range(plan.visible_per_choice):
        for index, ids in zip(indexes, choices, strict=True):
            yield (TOKEN, step, b"".join((head, index, parts[ids[step]])))
    yield from _tool_call_events(req, plan, head, indexes, tail, plan.visible_per_choice)
    finish = b'"delta":{},"logprobs":null,"finish_reason":' + orjson.dumps(plan.finish_reason) + b"}"
    for index in indexes:
        yield (POST, 0, head + index + finish + tail)
    if with_usage:
        yield (USAGE, 0, head + b'],"usage":' + orjson.dumps(plan.usage()) + b"}\n\n")
    yield (POST, 0, DONE)


def _tool_call_events(
    req: MockRequest, plan: ChatPlan, head: bytes, indexes: list[bytes], tail: bytes, step: int
) -> Iterator[Event]:
    """Each tool call as OpenAI streams it: a chunk with its id, type, name and empty arguments, then the
    arguments in two pieces (each piece counts as a token for pacing and `*_after=K`)."""
    for choice, index in enumerate(indexes):
        for i, call in enumerate(tool_calls_of(req, plan, choice)):
            opening = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            pieces = [opening] + [
                {"index": i, "function": {"arguments": p}} for p in (arguments[:half], arguments[half:])
            ]
            for n, piece in enumerate(pieces):
                delta = b'"delta":{"tool_calls":[' + orjson.dumps(piece) + b']},"logprobs":null,"finish_reason":null}'
                yield (TOKEN if n else POST, step, head + index + delta + tail)
                step += n > 0


def _completion(req: MockRequest, plan: ChatPlan, *, cid: str, created: int, model: str) -> dict[str, Any]:
    seed = messages_seed(req.body["messages"])
    choices: list[dict[str, Any]] = [
        {
            "index": i,
            "message": {
                "role": "assistant",
                "content": "".join(VOCABULARY[t] for t in token_ids(seed, i, plan.visible_per_choice)),
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": plan.finish_reason,
        }
        for i in range(plan.n)
    ]
    if plan.tool_calls_per_choice:
        for i, choice in enumerate(choices):
            choice["message"]["tool_calls"] = tool_calls_of(req, plan, i)
            if not plan.visible_per_choice:
                choice["message"]["content"] = None
    payload: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": plan.usage(),
        "service_tier": served_tier(req.body),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if req.faults.no_usage:
        del payload["usage"]
    return payload


async def chat_completions(req: MockRequest) -> ASGIApp:
    body = req.body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("Invalid 'stream': expected a boolean.", param="stream", code="invalid_type")
    if not stream and body.get("stream_options") is not None:
        raise bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    plan = plan_chat(body, default_completion_tokens=req.config.default_completion_tokens)
    stream_tokens = plan.visible_tokens + 2 * plan.n * plan.tool_calls_per_choice
    req.record.tokens_planned = stream_tokens
    cid, created = f"chatcmpl-{req.request_id}", int(time.time())
    if stream:
        return EventStream(
            req,
            _chunk_events(req, plan, cid=cid, created=created, model=model),
            total_tokens=stream_tokens,
            reasoning_tokens=plan.reasoning_per_choice,
            usage=plan.usage(),
        )
    payload = _completion(req, plan, cid=cid, created=created, model=model)
    delay = req.pacing.delay_before(plan.visible_per_choice, reasoning_tokens=plan.reasoning_per_choice)
    return JSONResult(req, payload, delay_s=delay, usage=payload.get("usage"))
