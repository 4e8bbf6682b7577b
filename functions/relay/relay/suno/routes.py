"""The ``/suno/...`` routes, as new-api serves them.

| method | path | what |
|---|---|---|
| POST | ``/suno/submit/<music|lyrics>`` (any case) | submit; charged when the upstream accepts |
| POST | ``/suno/fetch`` | ``{"ids": [...]}`` → the caller's tasks |
| GET | ``/suno/fetch/<id>`` | one task |

Keys are read as on the Midjourney routes (``Authorization: Bearer``, or ``mj-api-secret``); missing or
wrong keys get a real 401/403 in the OpenAI error shape. Everything else answers the protocol's
``{"code", "message", "data"}``: ``code == "success"`` or an error code with a 4xx/5xx status.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.errors import NotFound
from tollway.suno.runtime import suno_runtime_for

from relay.asgi import read_body, request_id_of
from relay.mj.auth import authenticate
from relay.pipeline import Pipeline
from relay.responses import CompletedResponse
from relay.suno import reads
from relay.suno.call import Answer, SunoCall
from relay.suno.submit import submit

__all__ = ["suno_routes"]


def _response(answer: Answer) -> Response:
    data = orjson.dumps(answer.body)
    after = answer.after
    if after is None:
        return Response(data, status_code=answer.status, media_type="application/json")

    async def run_after() -> None:
        await anyio.to_thread.run_sync(after)

    return CompletedResponse(data, answer.status, run_after)


class _Routes:
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def _call(self, request: Request) -> SunoCall:
        svc = await self._pipeline.services()
        context = await authenticate(request, svc)
        rid = request_id_of(request.scope)
        state = request.scope.setdefault("state", {})
        return SunoCall(
            srt=suno_runtime_for(svc),
            context=context,
            request_id=rid,
            started=state.get("started", time.monotonic()),
            created_at=svc.clock_ms(),
        )

    async def _json(self, request: Request, call: SunoCall) -> Any:
        raw = await read_body(request, call.srt.settings.max_request_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None  # not JSON: refused as an invalid request (a protocol error, not a crash)

    async def dispatch(self, request: Request) -> Response:
        parts = request.path_params["rest"].strip("/").split("/")
        method = request.method
        if method == "POST" and len(parts) == 2 and parts[0] == "submit":
            call = await self._call(request)
            data = await self._json(request, call)
            return _response(await anyio.to_thread.run_sync(submit, call, parts[1], data))
        if method == "POST" and parts == ["fetch"]:
            call = await self._call(request)
            data = await self._json(request, call)
            return _response(await anyio.to_thread.run_sync(reads.fetch_many, call, data))
        if method == "GET" and len(parts) == 2 and parts[0] == "fetch" and parts[1]:
            call = await self._call(request)
            return _response(await anyio.to_thread.run_sync(reads.fetch_one, call, parts[1]))
        raise NotFound(f"Unknown Suno route: {method} {request.url.path}", code="unknown_route")


def suno_routes(pipeline: Pipeline) -> list[BaseRoute]:
    routes = _Routes(pipeline)

    async def endpoint(request: Request) -> Response:
        return await routes.dispatch(request)

    return [Route("/suno/{rest:path}", endpoint, methods=["GET", "POST"])]
