"""The ``/mj/...`` routes, under every path form Midjourney clients use.

``/mj/<api>``, ``/<prefix>/mj/<api>`` with ``<prefix>`` = ``mj[-<mode>][-<relay|origin|proxy>]``, and
the doubled ``/mj/mj/<api>`` (clients that append ``/mj`` to a base URL that already has it).
Business errors are MJ envelopes with HTTP 200; authentication failures are real 401/403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.auth import KeyContext
from tollway.errors import NotFound
from tollway.mj.modes import PathModes, parse_prefix
from tollway.mj.request import SUBMIT_ROUTES
from tollway.mj.runtime import MjRuntime, runtime_for

from relay.asgi import read_body, request_id_of
from relay.mj import reads
from relay.mj.auth import MjCall, authenticate, mj_secret, public_base
from relay.mj.submit import submit
from relay.pipeline import Pipeline
from relay.responses import CompletedResponse

__all__ = ["mj_routes"]


def _json(body: Any, status: int = 200, after: Callable[[], None] | None = None) -> Response:
    data = orjson.dumps(body)
    if after is None:
        return Response(data, status_code=status, media_type="application/json")

    async def run_after() -> None:
        await anyio.to_thread.run_sync(after)

    return CompletedResponse(data, status, run_after)


def _api_path(request: Request) -> tuple[PathModes, str]:
    prefix = request.path_params.get("prefix")
    modes = PathModes() if prefix is None else parse_prefix(prefix)
    if modes is None:
        raise NotFound(f"Unknown route: {request.method} {request.url.path}", code="unknown_route")
    rest = request.path_params["rest"].strip("/")
    while rest == "mj" or rest.startswith("mj/"):
        rest = rest[3:]
    return modes, rest


class _Routes:
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def _call(self, request: Request, modes: PathModes) -> MjCall:
        svc = await self._pipeline.services()
        rt = runtime_for(svc)
        context = await authenticate(request, svc)
        state = request.scope.setdefault("state", {})
        rid = request_id_of(request.scope)
        return MjCall(
            rt=rt,
            context=context,
            request_id=rid,
            started=state.get("started", time.monotonic()),
            created_at=svc.clock_ms(),
            path=modes,
            base=public_base(request, svc.settings),
        )

    async def dispatch(self, request: Request) -> Response:
        modes, path = _api_path(request)
        parts = path.split("/")
        method = request.method
        if method == "GET" and len(parts) == 2 and parts[0] == "image":
            return await self._image(request, parts[1])
        call = await self._call(request, modes)
        if method == "POST" and path in SUBMIT_ROUTES:
            data = await self._body(request, call)
            outcome = await anyio.to_thread.run_sync(submit, call, path, data)
            return _json(outcome.body, 200, outcome.after)
        read: reads.Read | None = None
        if method == "GET" and len(parts) == 3 and parts[0] == "task" and parts[2] == "fetch":
            read = await anyio.to_thread.run_sync(reads.fetch, call, parts[1])
        elif method == "GET" and len(parts) == 3 and parts[0] == "task" and parts[2] == "image-seed":
            read = await anyio.to_thread.run_sync(reads.image_seed, call, parts[1])
        elif method == "POST" and path in ("task/list-by-condition", "task/list-by-ids"):
            data = await self._body(request, call)
            read = await anyio.to_thread.run_sync(reads.list_tasks, call, data)
        elif method == "GET" and path == "notify/secret":
            read = reads.notify_secret(call)
        if read is None:
            raise NotFound(f"Unknown Midjourney route: {method} {request.url.path}", code="unknown_route")
        status, body, after = read
        return _json(body, status, after)

    async def _body(self, request: Request, call: MjCall) -> Any:
        raw = await read_body(request, call.rt.settings.max_request_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None  # not an object: answered with envelope code 4 (a business error)

    async def _image(self, request: Request, task_id: str) -> Response:
        svc = await self._pipeline.services()
        rt: MjRuntime = runtime_for(svc)
        context: KeyContext | None = None
        if "sig" not in request.query_params and mj_secret(request):
            context = await authenticate(request, svc)
        query = dict(request.query_params)
        body, content_type = await anyio.to_thread.run_sync(reads.image, rt, task_id, query, context)
        # Signed links are stable for an hour (their expiry is rounded), so caches may keep the bytes.
        headers = {"cache-control": "private, max-age=3600"}
        return Response(body, media_type=content_type, headers=headers)


def mj_routes(pipeline: Pipeline) -> list[BaseRoute]:
    routes = _Routes(pipeline)

    async def endpoint(request: Request) -> Response:
        return await routes.dispatch(request)

    return [
        Route("/mj/{rest:path}", endpoint, methods=["GET", "POST"]),
        Route("/{prefix}/mj/{rest:path}", endpoint, methods=["GET", "POST"]),
    ]
