"""ASGI responses that settle money at the right moment.

- :class:`CompletedResponse` (non-streaming): the charge is already settled when it is built; it sends
  the body, then writes the history before completing the response.
- :class:`RelayStream` (streaming): forwards upstream events as they arrive, sends heartbeats while the
  upstream is silent, notices a client disconnect, and settles in a shielded ``finally`` before the
  response completes (on Lambda the invocation may freeze once the response ends).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from tollway.sse import HEARTBEAT

from relay.asgi import body_send

__all__ = ["CompletedResponse", "RelayStream", "StreamBody"]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class CompletedResponse(Response):
    def __init__(
        self,
        body: bytes,
        status_code: int,
        after: Callable[[], Awaitable[None]],
        media_type: str = "application/json",
    ) -> None:
        super().__init__(content=body, status_code=status_code, media_type=media_type)
        self._after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        send = body_send(scope, send)
        try:
            await send({"type": "http.response.body", "body": self.body, "more_body": True})
        finally:
            with anyio.CancelScope(shield=True):
                await self._after()
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client left after receiving everything it asked for


class StreamBody(Protocol):
    """What a :class:`RelayStream` drives."""

    async def pump(self, emit: Callable[[bytes], Awaitable[None]]) -> None:
        """Forward the upstream's events through ``emit`` until the upstream ends."""

    async def finish(self, client_closed: bool) -> None:
        """Close the upstream and settle (runs shielded, exactly once)."""


class RelayStream(Response):
    """Streams a :class:`StreamBody` to the client.

    When the client goes away, the upstream is read for a short ``drain_s`` more — without forwarding —
    so tokens already on the wire are counted and billed, then the upstream connection is closed.
    """

    def __init__(
        self,
        body: StreamBody,
        heartbeat_s: float | None,
        max_duration_s: float,
        drain_s: float = 0.25,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._stream_headers = headers or _SSE_HEADERS
        self._body = body
        self._heartbeat_s = heartbeat_s
        self._max_duration_s = max_duration_s
        self._drain_s = drain_s
        self.background: BackgroundTask | None = None
        self.client_closed = False
        self._send: Send | None = None
        self._sending = False
        self._last_send = time.monotonic()
        self._scope: anyio.CancelScope | None = None

    def _client_gone(self) -> None:
        if not self.client_closed:
            self.client_closed = True
            # Stop reading the upstream soon, not at once: what it already sent is still billed.
            if self._scope is not None:
                self._scope.deadline = min(self._scope.deadline, anyio.current_time() + self._drain_s)

    async def _emit(self, data: bytes) -> None:
        # No lock: the ASGI server writes each message to the transport before it awaits anything, so
        # messages never interleave; the flag only keeps a heartbeat from queueing behind a slow send.
        if self.client_closed or self._send is None:
            return
        self._sending = True
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        except OSError:
            self._client_gone()  # ASGI ≥ 2.4 servers report a gone client on send
            return
        finally:
            self._sending = False
        self._last_send = time.monotonic()

    async def _heartbeat(self, every: float) -> None:
        # SSE comments keep API Gateway (5-minute idle cut) and proxies from closing a silent stream.
        while True:
            await anyio.sleep(max(0.05, every - (time.monotonic() - self._last_send)))
            if time.monotonic() - self._last_send >= every and not self._sending:
                await self._emit(HEARTBEAT)

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._client_gone()
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                tg.start_soon(self._watch_disconnect, receive)
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": self._stream_headers})
                    send = self._send = body_send(scope, send)
                    if self._heartbeat_s is not None:
                        tg.start_soon(self._heartbeat, self._heartbeat_s)
                    with anyio.move_on_after(self._max_duration_s):
                        await self._body.pump(self._emit)
                except OSError:
                    self.client_closed = True
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._body.finish(self.client_closed)
                if not self.client_closed:
                    try:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    except OSError:
                        pass
