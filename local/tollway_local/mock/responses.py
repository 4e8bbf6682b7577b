"""Raw ASGI responses with fault injection and disconnect detection.

Every response the mock sends goes through here:

* `ErrorResponse` — an OpenAI-shaped error.
* `JSONResult` — a non-streaming success; applies `cut`, `malformed_sse`, `empty_stream`, `stall` to the body.
* `EventStream` — an SSE stream of pre-serialised events, paced per token, with the `*_after=K` faults.

A client disconnect is detected by a watcher task blocked on `receive()` (uvicorn answers `http.disconnect`
as soon as the connection drops); the watcher cancels whatever the response is doing, including a sleep
between tokens, so an abort is recorded promptly. Sends after a disconnect are silently dropped by uvicorn,
which is why the watcher, not a failed send, is the signal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

import anyio
import orjson

from tollway_local.mock.errors import MockHTTPError, fault_error, mid_stream_error_event
from tollway_local.mock.faults import resolve_after

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from starlette.types import Receive, Scope, Send

    from tollway_local.mock.config import MockConfig
    from tollway_local.mock.context import MockRequest
    from tollway_local.mock.stats import RequestRecord

# Stream event kinds: PRE (before the first token, e.g. the role chunk), TOKEN (one visible token),
# POST (after the tokens: final chunk, [DONE]), USAGE (a POST event that carries the usage object).
PRE: Final = 0
TOKEN: Final = 1
POST: Final = 2
USAGE: Final = 3

#: (kind, step, data): `step` is the token position the event is due at (ignored for POST/USAGE).
Event = tuple[int, int, bytes]

MALFORMED_EVENT = b"data: {not json\n\n"
MALFORMED_BODY = b"{not json"
#: Shorter sleeps than this are skipped: at high token rates the stream is written without sleeping.
MIN_SLEEP_S = 0.0005

_JSON = b"application/json"
_SSE = b"text/event-stream; charset=utf-8"


class ConnectionCut(Exception):
    """Raised out of the ASGI app after the response started: uvicorn then closes the socket abruptly."""


class _DropCutLogs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionCut))


def install_log_filter() -> None:
    """Keep uvicorn from logging an intentional cut as 'Exception in ASGI application' (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropCutLogs) for f in logger.filters):
        logger.addFilter(_DropCutLogs())


async def run_watching(receive: Receive, work: Callable[[], Awaitable[None]], finished: Callable[[], bool]) -> bool:
    """Run `work` while watching for a client disconnect; return True if the client left before `finished()`."""
    disconnected = False
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            # uvicorn also answers http.disconnect once the response is complete: that is no abort.
            if not finished():
                disconnected = True
                group.cancel_scope.cancel()

        group.start_soon(watch)
        await work()
        group.cancel_scope.cancel()
    return disconnected


async def sleep_watching(receive: Receive, seconds: float) -> bool:
    """Sleep, unless the client disconnects first; True if it did."""
    return await run_watching(receive, lambda: asyncio.sleep(seconds), lambda: False)


def response_headers(
    record: RequestRecord, config: MockConfig, content_type: bytes, extra: Iterable[tuple[str, str]] = ()
) -> list[tuple[bytes, bytes]]:
    request_id = record.mock_request_id.encode()
    headers = [
        (b"content-type", content_type),
        (b"x-mock-request-id", request_id),
        # Anthropic names it `request-id`; a relay must replace it with its own in both dialects.
        (b"request-id" if record.dialect == "anthropic" else b"x-request-id", b"req_" + request_id),
    ]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in (*config.extra_headers, *extra))
    return headers


class ErrorResponse:
    """An OpenAI-shaped error answer."""

    def __init__(self, record: RequestRecord, config: MockConfig, error: MockHTTPError) -> None:
        self.record = record
        self.config = config
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record, error = self.record, self.error
        record.status = error.status
        anthropic = record.dialect == "anthropic"
        record.error_code = error.anthropic_type if anthropic else (error.code or error.body["error"]["type"])
        body = error.render(record.dialect, f"req_{record.mock_request_id}")
        await send_whole(send, error.status, response_headers(record, self.config, _JSON, error.headers), body)
        record.outcome = "completed"


async def send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class JSONResult:
    """A 200 JSON answer sent after `delay_s`, with the non-streaming faults applied to its body."""

    def __init__(
        self,
        req: MockRequest,
        payload: Any,
        *,
        delay_s: float = 0.0,
        usage: dict[str, Any] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.req = req
        self.payload = payload
        self.delay_s = delay_s
        self.usage = usage
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        req, record, faults = self.req, self.req.record, self.req.faults
        if self.delay_s > 0 and await sleep_watching(receive, self.delay_s):
            record.outcome = "client_disconnected"
            return
        if faults.sse_error_after is not None:  # a mid-stream error has no stream to happen in: answer a 500
            await ErrorResponse(record, req.config, fault_error("http500", record.dialect))(scope, receive, send)
            return
        body = orjson.dumps(self.payload)
        if faults.malformed_sse_after is not None:
            body = MALFORMED_BODY
        elif faults.empty_stream:
            body = b""
        headers = response_headers(record, req.config, _JSON, self.headers)
        record.status = 200
        if faults.cut_after is None and faults.stall_after is None:
            await send_whole(send, 200, headers, body)
            record.outcome = "completed"
            if body is not MALFORMED_BODY and body:
                record.usage = self.usage
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if faults.cut_after is not None:
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        elif await sleep_watching(receive, req.config.max_stall_s):
            record.outcome = "client_disconnected"
            return
        record.outcome = "cut"
        raise ConnectionCut


class EventStream:
    """A 200 `text/event-stream` answer made of `events`, paced per token step.

    `total_tokens` resolves the bare `*_after` faults (halfway); `reasoning_tokens` delay the first token as a
    reasoning model would; `usage` is recorded when a USAGE event is sent.
    """

    def __init__(
        self,
        req: MockRequest,
        events: Iterable[Event],
        *,
        total_tokens: int,
        reasoning_tokens: int = 0,
        usage: dict[str, Any] | None = None,
    ) -> None:
        self.req = req
        self.events = events
        self.total_tokens = total_tokens
        self.reasoning_tokens = reasoning_tokens
        self.usage = usage
        self._finished = False
        self._cut = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        req, stats, record = self.req, self.req.stats, self.req.record
        await send(
            {"type": "http.response.start", "status": 200, "headers": response_headers(record, req.config, _SSE)}
        )
        record.status = 200
        stats.stream_started(record)
        try:
            disconnected = await run_watching(receive, lambda: self._write(send), lambda: self._finished)
        except BaseException:
            # Cancelled from outside (server shutdown): the client did not get the end either.
            stats.stream_finished(record, "cut")
            raise
        if disconnected:
            stats.stream_finished(record, "client_disconnected")
        elif self._cut:
            stats.stream_finished(record, "cut")
            raise ConnectionCut
        else:
            stats.stream_finished(record, "completed")

    def _triggers(self) -> list[tuple[int, str]]:
        faults = self.req.faults
        # Order at the same K: malformed first (the stream goes on), then the modes that end it.
        named = (
            ("malformed", faults.malformed_sse_after),
            ("sse_error", faults.sse_error_after),
            ("stall", faults.stall_after),
            ("cut", faults.cut_after),
        )
        found = [(resolve_after(after, self.total_tokens), name) for name, after in named if after is not None]
        return sorted(((k, name) for k, name in found if k is not None), key=lambda t: t[0])

    async def _write(self, send: Send) -> None:
        record, pacing = self.req.record, self.req.pacing
        loop = asyncio.get_running_loop()
        start = loop.time()
        triggers = self._triggers()
        paced = pacing.paced
        sent = 0
        for kind, step, data in self.events:
            while triggers and kind != PRE and sent >= triggers[0][0]:
                if await self._fire(triggers.pop(0)[1], send):
                    return
            if paced and kind < POST:
                delay = start + pacing.delay_before(step, reasoning_tokens=self.reasoning_tokens) - loop.time()
                if delay > MIN_SLEEP_S:
                    await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if kind == TOKEN:
                sent += 1
                record.tokens_sent = sent
            elif kind == USAGE:
                record.usage = self.usage
        await self._end(send)

    async def _end(self, send: Send, last: bytes = b"") -> None:
        self._finished = True
        await send({"type": "http.response.body", "body": last, "more_body": False})

    async def _fire(self, name: str, send: Send) -> bool:
        """Apply one `*_after` fault; True if the stream ends here."""
        dialect = self.req.record.dialect
        if name == "malformed":
            # Anthropic's SDK ignores data without an `event:` line, so the bad JSON needs one to be seen.
            bad = MALFORMED_EVENT if dialect == "openai" else b"event: content_block_delta\n" + MALFORMED_EVENT
            await send({"type": "http.response.body", "body": bad, "more_body": True})
            return False
        if name == "sse_error":
            self.req.record.error_code = "overloaded_error" if dialect == "anthropic" else "server_error"
            await self._end(send, mid_stream_error_event(dialect))
            return True
        if name == "stall":
            await asyncio.sleep(self.req.config.max_stall_s)
        self._cut = True
        return True
