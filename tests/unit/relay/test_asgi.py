from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from relay.asgi import ApiCors, RelayApp, RequestIdMiddleware, body_send
from relay.responses import RelayStream
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Chunks:
    """A StreamBody that emits fixed chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.finished: list[bool] = []

    async def pump(self, emit: Callable[[bytes], Awaitable[None]]) -> None:
        for chunk in self.chunks:
            await emit(chunk)

    async def finish(self, client_closed: bool) -> None:
        self.finished.append(client_closed)


class _Watch:
    """A middleware that records the type of every message it passes on."""

    seen: list[str] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watched(message: Message) -> None:
            _Watch.seen.append(message["type"])
            await send(message)

        await self.app(scope, receive, watched)


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }


def _call(app: ASGIApp, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        if not getattr(receive, "done", False):
            receive.done = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent


def _headers(start: Message) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in start["headers"]}


def test_a_streams_chunks_bypass_the_middleware_once_its_start_went_through_them() -> None:
    body = _Chunks([b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"])

    async def stream(request: Request) -> Response:
        return RelayStream(body, heartbeat_s=None, max_duration_s=30)

    app = RelayApp(
        routes=[Route("/s", stream, methods=["POST"])],
        middleware=[Middleware(RequestIdMiddleware), Middleware(_Watch)],
    )
    _Watch.seen = []
    sent = _call(app, _scope("POST", "/s"))

    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 4
    assert b"x-request-id" in _headers(sent[0])  # the start went through every layer
    assert [m["body"] for m in sent[1:]] == [*body.chunks, b""]
    assert sent[-1]["more_body"] is False
    assert _Watch.seen == ["http.response.start"]  # the body did not
    assert body.finished == [False]


def test_body_send_is_the_given_send_outside_the_relay_app() -> None:
    async def send(message: Message) -> None:  # pragma: no cover - never called
        pass

    assert body_send({"type": "http"}, send) is send


def _cors_app() -> ASGIApp:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    return RelayApp(
        routes=[Route("/r", ok, methods=["GET", "POST"])],
        middleware=[Middleware(ApiCors, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"])],
    )


def test_an_api_post_without_an_origin_gets_no_cors_headers() -> None:
    start = _call(_cors_app(), _scope("POST", "/r"))[0]
    headers = _headers(start)
    assert start["status"] == 200
    assert b"vary" not in headers and b"access-control-allow-origin" not in headers


def test_a_browser_post_and_any_get_keep_starlettes_cors_handling() -> None:
    browser = _headers(_call(_cors_app(), _scope("POST", "/r", [(b"origin", b"https://chat.example")]))[0])
    assert browser[b"access-control-allow-origin"] == b"*"
    get = _headers(_call(_cors_app(), _scope("GET", "/r"))[0])
    assert get[b"vary"] == b"Origin"
