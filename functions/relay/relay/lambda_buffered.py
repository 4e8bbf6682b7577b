"""The relay as a plain (buffered) Lambda handler: an API Gateway REST proxy event in, the whole response out.

On AWS the relay runs under Lambda Web Adapter, which streams (``run.sh``, ``AWS_LWA_INVOKE_MODE:
response_stream``). ``sam local invoke`` and ``sam local start-api`` cannot stream and cannot pull the
public LWA layer without an AWS account, so with the template parameter ``SamLocal=true``
(``samconfig.toml`` sets it for both local commands) the function's handler is this one instead: the
same ASGI app (``relay.app``), driven in-process, with the response collected and returned as a proxy
result. A streamed answer (``"stream": true``) therefore arrives all at once, as complete SSE text.
The test suite replays ``events/relay/*.json`` through it.

One event loop per execution environment, kept between invokes (as uvicorn's is under LWA), so the
app's lifespan, connection pools and caches live as long as the environment.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

__all__ = ["configure", "handler", "invoke"]

_TEXT_TYPES = ("text/", "application/json", "application/x-ndjson", "application/xml", "text/event-stream")


class _Runner:
    """An ASGI app on a long-lived event loop, with its lifespan started once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._lifespan: asyncio.Queue[Message] | None = None
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self.loop.run_until_complete(self._startup())
        self._started = True

    async def _startup(self) -> None:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        ready: asyncio.Future[None] = self.loop.create_future()

        async def receive() -> Message:
            return await inbox.get()

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and not ready.done():
                ready.set_result(None)
            elif message["type"] == "lifespan.startup.failed" and not ready.done():
                ready.set_exception(RuntimeError(message.get("message", "lifespan startup failed")))

        await inbox.put({"type": "lifespan.startup"})

        async def lifespan() -> None:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

        self._task: asyncio.Task[None] = self.loop.create_task(lifespan())
        await ready
        self._lifespan = inbox

    def close(self) -> None:
        """Run the lifespan's shutdown (tests; Lambda just freezes the environment)."""
        if self._lifespan is not None:
            self._lifespan.put_nowait({"type": "lifespan.shutdown"})
            self.loop.run_until_complete(self._task)
        self.loop.close()

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        self.start()
        return self.loop.run_until_complete(_call(self.app, event))


def _scope(event: dict[str, Any]) -> dict[str, Any]:
    multi = event.get("multiValueHeaders") or {}
    single = event.get("headers") or {}
    headers: list[tuple[bytes, bytes]] = []
    for name in {*multi, *single}:
        values = multi.get(name) or [single.get(name, "")]
        headers += [(name.lower().encode("latin-1"), str(v).encode("latin-1")) for v in values]
    query_multi = event.get("multiValueQueryStringParameters") or {}
    query_single = event.get("queryStringParameters") or {}
    pairs = [(k, v) for k in {*query_multi, *query_single} for v in (query_multi.get(k) or [query_single[k]])]
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": str(event.get("httpMethod", "GET")).upper(),
        "scheme": "https",
        "path": event.get("path") or "/",
        "raw_path": None,
        "root_path": "",
        "query_string": urlencode(pairs).encode(),
        "headers": headers,
        "client": (identity.get("sourceIp") or "127.0.0.1", 0),
        "server": ("lambda", 443),
    }


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()


async def _call(app: ASGIApp, event: dict[str, Any]) -> dict[str, Any]:
    body = _body(event)
    sent = False
    status = 500
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects: the whole answer is collected
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(_scope(event), receive, send)
    return _result(status, response_headers, b"".join(chunks))


def _result(status: int, headers: list[tuple[bytes, bytes]], payload: bytes) -> dict[str, Any]:
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        multi.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    content_type = (multi.get("content-type") or [""])[0].lower()
    text: str | None = None
    if not payload or content_type.startswith(_TEXT_TYPES):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return {
        "statusCode": status,
        "headers": {k: v[-1] for k, v in multi.items()},
        "multiValueHeaders": multi,
        "body": text if text is not None else base64.b64encode(payload).decode(),
        "isBase64Encoded": text is None,
    }


_runner: _Runner | None = None


def configure(app: ASGIApp | None) -> None:
    """Serve this app instead of one built from the environment (tests); ``None`` forgets it."""
    global _runner
    if _runner is not None:
        _runner.close()
    _runner = None if app is None else _Runner(app)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """One API Gateway REST proxy event through the app; the proxy result."""
    global _runner
    if _runner is None:
        from relay.app import app_from_env

        _runner = _Runner(app_from_env())
    return _runner.call(event)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler (``Handler: relay.lambda_buffered.handler``)."""
    return invoke(event)
