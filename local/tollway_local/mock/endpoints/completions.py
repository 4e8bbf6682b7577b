"""`POST /v1/completions` (legacy text completions), streaming and not; usage per
`surface_usage.plan_completion`. Streams end with an optional usage chunk (`stream_options.include_usage`)
and `data: [DONE]`, as chat completions do."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.errors import bad_request
from tollway_local.mock.responses import POST, TOKEN, USAGE, Event, EventStream, JSONResult
from tollway_local.mock.surface_usage import plan_completion
from tollway_local.mock.text import VOCABULARY, messages_seed, token_ids

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

DONE = b"data: [DONE]\n\n"


def fault_texts(body: Any) -> Iterable[str]:
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if isinstance(prompt, str):
        return [prompt]
    return [p for p in prompt if isinstance(p, str)] if isinstance(prompt, list) else []


def _texts(body: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    seed = messages_seed([body.get("prompt")])
    return [
        "".join(VOCABULARY[t] for t in token_ids(seed, i, plan["visible"])) for i in range(plan["prompts"] * plan["n"])
    ]


def _chunk(cid: str, created: int, model: str, choices: list[dict[str, Any]], usage: Any = ...) -> bytes:
    chunk: dict[str, Any] = {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not ...:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _events(req: MockRequest, plan: dict[str, Any], cid: str, created: int, model: str) -> Iterator[Event]:
    if req.faults.empty_stream:
        yield (POST, 0, DONE)
        return
    options = req.body.get("stream_options")
    with_usage = isinstance(options, dict) and options.get("include_usage") is True and not req.faults.no_usage
    nothing = None if with_usage else ...
    seed = messages_seed([req.body.get("prompt")])
    choices = plan["prompts"] * plan["n"]
    ids = [token_ids(seed, i, plan["visible"]) for i in range(choices)]
    for step in range(plan["visible"]):
        for i in range(choices):
            text = VOCABULARY[ids[i][step]]
            choice = {"text": text, "index": i, "logprobs": None, "finish_reason": None}
            yield (TOKEN, step, _chunk(cid, created, model, [choice], nothing))
    for i in range(choices):
        final = {"text": "", "index": i, "logprobs": None, "finish_reason": plan["finish_reason"]}
        yield (POST, 0, _chunk(cid, created, model, [final], nothing))
    if with_usage:
        yield (USAGE, 0, _chunk(cid, created, model, [], plan["usage"]))
    yield (POST, 0, DONE)


async def completions(req: MockRequest) -> ASGIApp:
    body = req.body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not body.get("stream") and body.get("stream_options") is not None:
        raise bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    plan = plan_completion(body, default_completion_tokens=req.config.default_completion_tokens)
    choices = plan["prompts"] * plan["n"]
    req.record.tokens_planned = choices * plan["visible"]
    cid, created = f"cmpl-{req.request_id}", int(time.time())
    if body.get("stream"):
        events = _events(req, plan, cid, created, model)
        return EventStream(req, events, total_tokens=choices * plan["visible"], usage=plan["usage"])
    texts = _texts(body, plan)
    payload: dict[str, Any] = {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {"text": t, "index": i, "logprobs": None, "finish_reason": plan["finish_reason"]}
            for i, t in enumerate(texts)
        ],
        "usage": plan["usage"],
    }
    if req.faults.no_usage:
        del payload["usage"]
    delay = req.pacing.delay_before(plan["visible"])
    return JSONResult(req, payload, delay_s=delay, usage=payload.get("usage"))


__all__ = ["completions", "fault_texts"]
