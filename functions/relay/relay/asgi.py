"""Pure-ASGI plumbing shared by every route: request ids, path normalisation, bounded body reads.

Written as raw ASGI middleware (not ``BaseHTTPMiddleware``) so streaming responses pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tollway.errors import RequestTooLarge
from tollway.ids import request_id

__all__ = [
    "ApiCors",
    "PathNormalizer",
    "ProbeAnswer",
    "RelayApp",
    "RequestIdMiddleware",
    "body_send",
    "read_body",
    "request_id_of",
]

_SERVER_SEND = "tollway.server_send"


class RelayApp(Starlette):
    """The relay's Starlette app, which also keeps the server's own ``send`` in the scope (see
    :func:`body_send`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def body_send(scope: Scope, send: Send) -> Send:
    """Where a response sends its body once its ``http.response.start`` went out through ``send``.

    Every layer between the server and a route — Starlette's error and exception middleware (they note
    that the answer started), the request id and CORS headers — acts on the start message only and
    passes body messages through unchanged, so a body chunk may go straight to the server's ``send``:
    five awaited wrappers fewer for each of a stream's chunks. A middleware that rewrote bodies (gzip)
    would have to stop this; the relay has none (SSE must not be buffered anyway).
    """
    server_send: Send | None = scope.get(_SERVER_SEND)
    return send if server_send is None else server_send


class ApiCors(CORSMiddleware):
    """Starlette's CORS, skipped for a POST that carries no ``Origin`` (an API client, not a browser).

    Such an answer needs no CORS header at all; the only one Starlette would add is ``Vary: Origin``,
    which matters to caches, and a POST's answer is never cached. Every other request (browsers send
    ``Origin`` on cross-origin POSTs and preflights) gets Starlette's handling unchanged.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for name, _ in scope["headers"]:
                if name == b"origin":
                    break
            else:
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = request_id()
        state["request_id"] = rid
        state["started"] = time.monotonic()
    return str(rid)


class RequestIdMiddleware:
    """Every response carries ``X-Request-Id`` and ``request-id`` (the id its usage record is filed under)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid))
                headers.append((b"request-id", rid))  # Anthropic's name for it; its SDKs expose this one
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class ProbeAnswer:
    """``HEAD /`` and ``HEAD /api/hello`` — Claude Code's connectivity probes to its base URL — answered
    200 with no body before routing: cheap, whatever else (the console) serves ``/``."""

    PATHS = frozenset({"/", "/api/hello"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and scope["path"] in self.PATHS:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


class PathNormalizer:
    """Clients set base URLs differently (``https://host``, ``…/v1``, even ``…/v1/chat/completions``);
    an unknown path that *ends* with a known OpenAI route is served as that route under ``/v1``."""

    def __init__(self, app: ASGIApp, known: Iterable[str], suffixes: Iterable[str]) -> None:
        self.app = app
        self.known = frozenset(known)
        self.suffixes = tuple(sorted(suffixes, key=len, reverse=True))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path not in self.known and len(path) > 1:
                trimmed = path.rstrip("/")
                if trimmed in self.known:
                    scope = dict(scope, path=trimmed)
                else:
                    for suffix in self.suffixes:
                        if trimmed.endswith(suffix):
                            scope = dict(scope, path="/v1" + suffix)
                            break
        await self.app(scope, receive, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without reading them all.

    Raises:
        RequestTooLarge: the declared or actual size is over the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestTooLarge:
    # Built only when refused: the message's formatting is not free, and every request passes here.
    return RequestTooLarge(f"Request body is over tollway's limit of {limit:,} bytes ({limit / 1_000_000:.1f} MB).")
