"""The passthrough floor: the thinnest honest Python relay, with no billing, for the benchmark.

What the relay costs is only meaningful next to what relaying costs at all. This app does the part
every Python relay must do, on the relay's own server stack (Starlette on uvicorn with uvloop and
httptools, one pooled ``httpx2.AsyncClient`` — the relay's upstream client — to the mock upstream):

- ``POST /v1/chat/completions``: check a static bearer key (401 otherwise), read the request body and
  parse it once (400 if it is not a JSON object) to learn whether the client asked for a stream, then
  POST the body unchanged to the upstream. Non-streaming: read the whole answer and return it with the
  upstream's status and content type. Streaming: forward the upstream's bytes chunk by chunk as they
  arrive (``aiter_raw``: no re-framing, no parsing). An upstream that cannot be reached: 502.
- ``GET /healthz``: 200, so the benchmark can start it like the relay.

Nothing else: no accounts, no prices, no store, no usage records, no metering, no request ids, no
logging. uvicorn calls ``app_from_env`` (``--factory bench.floor_app:app_from_env``). Environment:

- ``FLOOR_KEY``: the bearer key clients must send;
- ``FLOOR_UPSTREAM``: the upstream's base URL (``…/v1``; the app calls ``{base}/chat/completions``);
- ``FLOOR_UPSTREAM_KEY``: the bearer key sent to the upstream;
- ``FLOOR_STREAM_HEADERS``: a JSON object of headers added to streaming upstream requests only (the
  benchmark's pace header — the relay's streaming lane gets the same from its channel).
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx2
import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from tollway.upstream import network

__all__ = ["FloorConfig", "app_from_env", "authorized", "create_app", "wants_stream"]

# The relay's defaults for its upstream pool and timeouts (tollway.settings), so that the pool is not
# what differs between the two.
_MAX_CONNECTIONS = 4096
_MAX_KEEPALIVE = 1024
_TIMEOUT = httpx2.Timeout(600.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class FloorConfig:
    key: str
    upstream: str  # base URL, e.g. http://127.0.0.1:PORT/v1
    upstream_key: str
    stream_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FloorConfig:
        """Read the ``FLOOR_*`` variables (see the module docstring).

        Raises:
            ValueError: a required variable is missing or empty, or the stream headers are not a JSON
                object of strings.
        """
        missing = [name for name in ("FLOOR_KEY", "FLOOR_UPSTREAM", "FLOOR_UPSTREAM_KEY") if not env.get(name)]
        if missing:
            raise ValueError(f"the floor needs {', '.join(missing)}")
        headers = orjson.loads(env.get("FLOOR_STREAM_HEADERS") or "{}")
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("FLOOR_STREAM_HEADERS must be a JSON object of strings")
        return cls(env["FLOOR_KEY"], env["FLOOR_UPSTREAM"].rstrip("/"), env["FLOOR_UPSTREAM_KEY"], headers)


def authorized(header: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header carries exactly ``Bearer <key>`` (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(header.encode(), f"Bearer {key}".encode())


def wants_stream(body: bytes) -> bool | None:
    """``stream: true`` in a JSON object body → True, any other object → False; not a JSON object → None."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    return payload.get("stream") is True


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": {"message": message}}), status, media_type="application/json")


def create_app(config: FloorConfig, transport: httpx2.AsyncBaseTransport | None = None) -> Starlette:
    """The floor app; ``transport`` replaces the network (tests)."""
    limits = httpx2.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_KEEPALIVE)
    client = httpx2.AsyncClient(
        timeout=_TIMEOUT,
        limits=limits,
        follow_redirects=False,
        trust_env=False,
        # The relay's transport (its cheaper idle-connection probe), so the pool costs the same in both.
        transport=transport if transport is not None else network.transport(limits),
    )
    url = f"{config.upstream}/chat/completions"
    base = {"content-type": "application/json", "accept-encoding": "identity"}
    plain = {**base, "authorization": f"Bearer {config.upstream_key}"}
    streaming = {**plain, **{k.lower(): v for k, v in config.stream_headers.items()}}

    async def chat(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), config.key):
            return _error(401, "invalid API key")
        body = await request.body()
        stream = wants_stream(body)
        if stream is None:
            return _error(400, "the body must be a JSON object")
        upstream_request = client.build_request("POST", url, content=body, headers=streaming if stream else plain)
        try:
            upstream = await client.send(upstream_request, stream=True)
        except httpx2.HTTPError:
            return _error(502, "the upstream could not be reached")
        media_type = upstream.headers.get("content-type")
        if not stream:
            try:
                content = await upstream.aread()
            except httpx2.HTTPError:
                return _error(502, "the upstream answer broke off")
            finally:
                await upstream.aclose()
            return Response(content, upstream.status_code, media_type=media_type)
        return StreamingResponse(
            upstream.aiter_raw(),
            upstream.status_code,
            media_type=media_type,
            background=BackgroundTask(upstream.aclose),
        )

    async def healthz(request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )


def app_from_env() -> Starlette:
    app = create_app(FloorConfig.from_env(os.environ))
    gc.collect()
    gc.freeze()  # as the relay does once its long-lived objects exist: full collections skip them
    return app
