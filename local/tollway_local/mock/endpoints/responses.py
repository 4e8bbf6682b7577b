"""The Responses API: `POST /v1/responses` (stream and not), `GET`/`DELETE /v1/responses/{id}`,
`GET …/{id}/input_items`, `POST …/{id}/cancel`, `POST /v1/responses/input_tokens`.

Usage follows `surface_usage.plan_response` (docs/mock-upstream.md). Stored responses (`store` is true
unless the request says false) are kept per mock instance, at most `_KEEP` of them, so `GET`, `DELETE`
and `previous_response_id` work; an unknown previous id is a 404 as OpenAI answers. A stream sends
`event:` lines, `sequence_number`s and no `[DONE]`; `empty_stream` sends only the terminal event.
"""

from __future__ import annotations

import base64
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.endpoints.chat import served_tier
from tollway_local.mock.errors import MockHTTPError, bad_request
from tollway_local.mock.responses import POST, PRE, TOKEN, USAGE, Event, EventStream, JSONResult
from tollway_local.mock.surface_usage import ResponsePlan, plan_response, response_texts
from tollway_local.mock.text import VOCABULARY, messages_seed, token_ids

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

__all__ = ["ID_PATTERN", "ITEMS_PATTERN", "CANCEL_PATTERN", "fault_texts"]

ID_PATTERN = re.compile(r"/responses/(?P<id>[^/]+)$")
ITEMS_PATTERN = re.compile(r"/responses/(?P<id>[^/]+)/input_items$")
CANCEL_PATTERN = re.compile(r"/responses/(?P<id>[^/]+)/cancel$")
_KEEP = 1000
#: A 1×1 transparent PNG: every generated image of the mock.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()
_STORES: dict[str, OrderedDict[str, dict[str, Any]]] = {}


def fault_texts(body: Any) -> Iterable[str]:
    return response_texts(body) if isinstance(body, dict) else []


def _store(req: MockRequest) -> OrderedDict[str, dict[str, Any]]:
    return _STORES.setdefault(req.stats.instance, OrderedDict())


def _id_of(req: MockRequest, pattern: re.Pattern[str]) -> str:
    match = pattern.search(req.path.rstrip("/"))
    return match.group("id") if match else ""


def _tool_items(plan: ResponsePlan, rid: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(plan.web_searches):
        action = {"type": "search", "query": f"mock query {i + 1}"}
        items.append({"type": "web_search_call", "id": f"ws_{rid}_{i}", "status": "completed", "action": action})
    for i in range(plan.code_calls):
        items.append(
            {
                "type": "code_interpreter_call",
                "id": f"ci_{rid}_{i}",
                "status": "completed",
                "container_id": f"cntr_{rid}_{i}",
                "code": "print(1 + 1)",
                "outputs": None,
            }
        )
    for i in range(plan.images):
        items.append({"type": "image_generation_call", "id": f"ig_{rid}_{i}", "status": "completed", "result": PIXEL})
    if plan.reasoning_tokens:
        items.append({"type": "reasoning", "id": f"rs_{rid}", "summary": []})
    return items


def _message(rid: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "type": "message",
        "id": f"msg_{rid}",
        "status": status,
        "role": "assistant",
        "content": [part] if text or status == "completed" else [],
    }


def _response(req: MockRequest, plan: ResponsePlan | None, rid: str, created: int, text: str) -> dict[str, Any]:
    body = req.body
    status = "in_progress" if plan is None else ("incomplete" if plan.incomplete else "completed")
    output: list[dict[str, Any]] = [] if plan is None else [*_tool_items(plan, rid), _message(rid, text, "completed")]
    out: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if plan is not None and plan.incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": body.get("metadata") or {},
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "service_tier": served_tier(body),
        "store": body.get("store", True) is not False,
        # Echoed with OpenAI's defaults: its OpenAPI description requires both on every Response.
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
    }
    # No `usage` key until there is usage (OpenAI's description has it non-nullable, so a null would not
    # validate; the SDKs treat a missing one as None).
    if plan is not None and not req.faults.no_usage:
        out["usage"] = plan.usage()
        out["tool_usage"] = plan.tool_usage()
    return out


def _event(kind: str, seq: int, payload: dict[str, Any]) -> bytes:
    data = orjson.dumps({"type": kind, "sequence_number": seq, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


def _events(req: MockRequest, plan: ResponsePlan, rid: str, created: int, words: list[str]) -> Iterator[Event]:
    final = _response(req, plan, rid, created, "".join(words))
    terminal = "response.incomplete" if plan.incomplete else "response.completed"
    seq = 0
    if req.faults.empty_stream:
        yield (USAGE, 0, _event(terminal, seq, {"response": final}))
        return
    start = _response(req, None, rid, created, "")
    for kind in ("response.created", "response.in_progress"):
        yield (PRE, 0, _event(kind, seq, {"response": start}))
        seq += 1
    index = 0
    for item in _tool_items(plan, rid):
        for kind in ("response.output_item.added", "response.output_item.done"):
            yield (PRE, 0, _event(kind, seq, {"output_index": index, "item": item}))
            seq += 1
        index += 1
    empty = _message(rid, "", "in_progress")
    yield (PRE, 0, _event("response.output_item.added", seq, {"output_index": index, "item": empty}))
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield (PRE, 0, _event("response.content_part.added", seq + 1, {**_at(rid, index), "part": part}))
    seq += 2
    for step, word in enumerate(words):
        yield (
            TOKEN,
            step,
            _event("response.output_text.delta", seq, {**_at(rid, index), "delta": word, "logprobs": []}),
        )
        seq += 1
    text = "".join(words)
    done_part = {**part, "text": text}
    yield (POST, 0, _event("response.output_text.done", seq, {**_at(rid, index), "text": text, "logprobs": []}))
    yield (POST, 0, _event("response.content_part.done", seq + 1, {**_at(rid, index), "part": done_part}))
    message = _message(rid, text, "completed")
    yield (POST, 0, _event("response.output_item.done", seq + 2, {"output_index": index, "item": message}))
    yield (USAGE, 0, _event(terminal, seq + 3, {"response": final}))


def _at(rid: str, index: int) -> dict[str, Any]:
    return {"item_id": f"msg_{rid}", "output_index": index, "content_index": 0}


def _previous_tokens(req: MockRequest) -> int:
    previous = req.body.get("previous_response_id")
    if previous is None:
        return 0
    stored = _store(req).get(str(previous))
    if stored is None:
        raise MockHTTPError(
            404,
            f"Previous response with id '{previous}' not found.",
            "invalid_request_error",
            "previous_response_not_found",
            "previous_response_id",
        )
    usage = stored["response"].get("usage") or {}
    return int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))


async def create_response(req: MockRequest) -> ASGIApp:
    body = req.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("Invalid 'stream': expected a boolean.", param="stream", code="invalid_type")
    if body.get("background"):
        raise bad_request("The mock does not run background responses.", param="background")
    plan = plan_response(
        body, previous_tokens=_previous_tokens(req), default_completion_tokens=req.config.default_completion_tokens
    )
    req.record.tokens_planned = plan.visible_tokens
    rid, created = f"resp_{req.request_id}", int(time.time())
    seed = messages_seed(response_texts(body))
    words = [VOCABULARY[t] for t in token_ids(seed, 0, plan.visible_tokens)]
    final = _response(req, plan, rid, created, "".join(words))
    if final["store"]:
        store = _store(req)
        store[rid] = {"response": final, "input": body.get("input")}
        while len(store) > _KEEP:
            store.popitem(last=False)
    usage = final.get("usage")
    if stream:
        return EventStream(
            req,
            _events(req, plan, rid, created, words),
            total_tokens=plan.visible_tokens,
            reasoning_tokens=plan.reasoning_tokens,
            usage=usage,
        )
    delay = req.pacing.delay_before(plan.visible_tokens, reasoning_tokens=plan.reasoning_tokens)
    return JSONResult(req, final, delay_s=delay, usage=usage)


def _stored(req: MockRequest, pattern: re.Pattern[str]) -> dict[str, Any]:
    rid = _id_of(req, pattern)
    found = _store(req).get(rid)
    if found is None:
        raise MockHTTPError(404, f"Response with id '{rid}' not found.", "invalid_request_error", "not_found")
    return found


async def get_response(req: MockRequest) -> ASGIApp:
    if req.method == "DELETE":
        rid = _id_of(req, ID_PATTERN)
        _stored(req, ID_PATTERN)
        del _store(req)[rid]
        return JSONResult(req, {"id": rid, "object": "response.deleted", "deleted": True})
    return JSONResult(req, _stored(req, ID_PATTERN)["response"])


async def input_items(req: MockRequest) -> ASGIApp:
    stored = _stored(req, ITEMS_PATTERN)
    raw = stored["input"]
    items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    data = [{"id": f"in_{i}", **item} if isinstance(item, dict) else item for i, item in enumerate(items)]
    return JSONResult(req, {"object": "list", "data": data, "has_more": False})


async def cancel_response(req: MockRequest) -> ASGIApp:
    _stored(req, CANCEL_PATTERN)
    raise bad_request("Only background responses can be cancelled.", code="invalid_request")


async def input_tokens(req: MockRequest) -> ASGIApp:
    body = req.body
    if not isinstance(body.get("model"), str):
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    plan = plan_response(body, previous_tokens=_previous_tokens(req))
    return JSONResult(req, {"object": "response.input_tokens", "input_tokens": plan.input_tokens})
