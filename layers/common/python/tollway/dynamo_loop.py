"""The wire client's transport on the event loop: the relay's store calls without a worker thread.

:class:`LoopConnection` is :class:`tollway.dynamo_wire.WireConnection` for asyncio: ``await
post(headers, body)`` returns what ``WireConnection.post`` returns (status, headers, body, re-sends)
and raises the same botocore exceptions. ``WireClient`` uses it when its caller runs bridged on the
loop (:mod:`tollway.bridge`), so the ledger's synchronous code sends its calls from the loop's thread.

Built on ``loop.create_connection`` and a small :class:`asyncio.Protocol` rather than asyncio streams
or an HTTP library: a DynamoDB answer is a few hundred bytes in one or two segments, and the cost to
cut was the per-call machinery (reader/writer objects, ``email``-based header parsing, the thread).
The answer is framed by a parser of its own (Content-Length, chunked, or delimited by the close):
its one peer is DynamoDB, its head is parsed with a few bytes operations instead of a Python
callback per header (httptools), it handles a close-delimited answer (httptools has no ``finish``),
and the common layer, which all three functions ship, does not carry httptools (only the relay does).

Connections: each call takes its own connection, the most recently used idle one first (LIFO: a warm
one, and the rest left to time out at the server), kept per event loop, at most ``max_idle`` of them
idle (64 by default, the boto3 client's pool: fewer than the relay's concurrent calls would churn
connections under load); one the server closed while idle leaves the pool at once. A kept-alive connection found closed
before any byte of an answer is sent once more on a fresh one (every store write is conditional or
carries its idempotency token, so a repeat is safe), counted in the re-sends. A call that is
cancelled or fails closes its connection: none goes back to the pool half-read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import weakref
from typing import TYPE_CHECKING, cast

from botocore.exceptions import (
    ConnectionClosedError,
    ReadTimeoutError,
)

from tollway.dynamo_endpoint import Answer, connect_failure, endpoint_parts, verified_context

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LoopConnection"]

_CLOSE_WAIT_S = 1.0  # how long aclose() waits for a graceful close before aborting
_MAX_HEAD = 64 * 1024  # a DynamoDB answer's head is well under 1 KiB: anything larger is not one


class _Gone(Exception):
    """The connection closed before the answer was complete; ``answered``: some of it had arrived."""

    def __init__(self, answered: bool, cause: BaseException | None) -> None:
        super().__init__("connection closed")
        self.answered = answered
        self.cause = cause


class _Malformed(Exception):
    """Bytes that are not an HTTP/1.x answer."""


class _TimedOut(Exception):
    """No byte of the answer for the read timeout."""


class _Link(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, its answer framed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float, on_lost: Callable[[_Link], None]) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self.gone = loop.create_future()  # done once the connection is closed (aclose waits for it)
        self._waiter: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._answered = False
        # The answer being read: head (status, headers, keep-alive), then the body's framing.
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._keep = True
        self._framing = ""  # "" (no head yet) | "length" | "chunked" | "close"
        self._length = 0
        self._chunks: list[bytes] = []

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, so no isinstance check).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for (on an idle connection): its state is unknown, never reuse it.
            self.abort()
            return
        self._buf += data
        self._answered = True
        self._last = self._loop.time()
        try:
            answer = self._parse()
        except _Malformed as exc:
            waiter.set_exception(exc)
            return
        if answer is not None:
            self._finish()
            waiter.set_result(answer)

    def eof_received(self) -> bool:
        return False  # the server's half-close: close ours too (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._on_lost(self)
        if not self.gone.done():
            self.gone.set_result(None)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self._finish()
        if self._framing == "close":
            # The close is this answer's end (no Content-Length, not chunked).
            waiter.set_result((self._status, self._headers, bytes(self._buf), False))
        else:
            waiter.set_exception(_Gone(self._answered, exc))

    # ---- one exchange ----

    def begin(self, request: bytes) -> asyncio.Future[Answer]:
        """Send ``request``; the future is its answer (or ``_Gone``, ``_Malformed``, ``_TimedOut``)."""
        loop = self._loop
        waiter: asyncio.Future[Answer] = loop.create_future()
        self._waiter = waiter
        self._answered = False
        self._framing = ""
        self._chunks = []
        self._buf.clear()
        if self.closed or self.transport is None or self.transport.is_closing():
            waiter.set_exception(_Gone(False, None))
            return waiter
        self._last = loop.time()
        self._timer = loop.call_later(self._read_timeout, self._check_timeout)
        self.transport.write(request)
        return waiter

    def _check_timeout(self) -> None:
        # Like a socket timeout (botocore's read_timeout): the time since the last byte, not in all.
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        quiet = self._loop.time() - self._last
        if quiet < self._read_timeout:
            self._timer = self._loop.call_later(self._read_timeout - quiet, self._check_timeout)
            return
        self._timer = None
        waiter.set_exception(_TimedOut())

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def idle(self) -> None:
        """The exchange is over and the connection goes back to the pool."""
        self._waiter = None
        self._headers = []
        self._chunks = []

    def close(self) -> None:
        """Close after the exchange (a graceful close: the answer was read whole)."""
        self._finish()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._finish()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # ---- framing ----

    def _parse(self) -> Answer | None:
        buf = self._buf
        while not self._framing:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise _Malformed("answer head too large")
                return None
            self._head(bytes(buf[:end]).decode("latin-1"))
            del buf[: end + 4]
        if self._framing == "length":
            if len(buf) < self._length:
                return None
            if len(buf) > self._length:
                self._keep = False  # bytes past the answer: nothing was pipelined, so never reuse it
            return self._status, self._headers, bytes(buf[: self._length]), self._keep
        if self._framing == "chunked":
            return self._chunk()
        return None  # close-delimited: connection_lost ends it

    def _head(self, head: str) -> None:
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise _Malformed(f"not an HTTP/1.x status line: {lines[0][:64]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        connection = ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _Malformed(f"not a header line: {line[:64]!r}")
            value = value.strip()
            headers.append((name, value))
            lowered = name.lower()
            if lowered == "content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise _Malformed(f"bad Content-Length: {value[:32]!r}")
                length = int(value)
            elif lowered == "transfer-encoding":
                chunked = value.lower().rsplit(",", 1)[-1].strip() == "chunked"
            elif lowered == "connection":
                connection = value.lower()
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows; _framing stays ""
        self._status = status
        self._headers = headers
        tokens = {t.strip() for t in connection.split(",")}
        self._keep = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        if chunked:  # chunked wins over a Content-Length (RFC 9112 §6.3)
            self._framing = "chunked"
        elif length is not None:
            self._framing, self._length = "length", length
        else:
            self._framing, self._keep = "close", False

    def _chunk(self) -> Answer | None:
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                if len(buf) > _MAX_HEAD:
                    raise _Malformed("chunk size line too long")
                return None
            size_text = bytes(buf[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Malformed(f"bad chunk size: {size_text[:32]!r}") from None
            if size == 0:
                # The last chunk, then trailers (ignored) up to an empty line.
                if buf[line_end + 2 : line_end + 4] == b"\r\n":
                    rest = len(buf) - (line_end + 4)
                else:
                    end = buf.find(b"\r\n\r\n", line_end + 2)
                    if end < 0:
                        return None
                    rest = len(buf) - (end + 4)
                if rest:
                    self._keep = False
                return self._status, self._headers, b"".join(self._chunks), self._keep
            if len(buf) < line_end + 2 + size + 2:
                return None
            start = line_end + 2
            if buf[start + size : start + size + 2] != b"\r\n":
                raise _Malformed("chunk not followed by CRLF")
            self._chunks.append(bytes(buf[start : start + size]))
            del buf[: start + size + 2]


class LoopConnection:
    """Kept-alive HTTP/1.1 connections to one endpoint, pooled per event loop (see the module doc)."""

    def __init__(self, endpoint_url: str, *, connect_timeout: float, read_timeout: float, max_idle: int = 64) -> None:
        self.endpoint_url = endpoint_url
        parts = endpoint_parts(endpoint_url)
        self.host = parts.host
        self._hostname = parts.hostname
        self._https = parts.https
        self._port = parts.port if parts.port is not None else (443 if parts.https else 80)
        self._path = parts.path
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_idle = max_idle
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Link]] = weakref.WeakKeyDictionary()
        self._ssl: ssl.SSLContext | None = None
        self.connects = 0  # connections opened (a figure for tests and the bench)

    async def post(self, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes, int]:
        """Status, headers, body and the number of re-sends after a kept-alive connection was found closed."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = []
        request = self._request(headers, body)
        for resend in range(2):
            link = None
            while pool and not resend:  # the re-send goes on a fresh connection, never another idle one
                candidate = pool.pop()
                if not candidate.closed:
                    link = candidate
                    break
            reused = link is not None
            if link is None:
                link = await self._connect(loop, pool)
            try:
                status, answer_headers, data, keep = await link.begin(request)
            except _Gone as gone:
                link.abort()
                if reused and not gone.answered:
                    continue  # an idle connection the server (or a NAT) had closed: nothing was answered
                raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=gone.cause) from gone.cause
            except _TimedOut:
                link.abort()
                raise ReadTimeoutError(endpoint_url=self.endpoint_url, error="read timeout") from None
            except _Malformed as exc:
                link.abort()
                raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=exc) from exc
            except BaseException:
                link.abort()  # cancelled mid-answer: the rest of it would confuse the next call
                raise
            if keep and not link.closed and len(pool) < self._max_idle:
                link.idle()
                pool.append(link)
            else:
                link.close()  # the server said close, or enough are idle already
            return status, answer_headers, data, resend
        raise ConnectionClosedError(endpoint_url=self.endpoint_url)  # pragma: no cover - the 2nd try is fresh

    def _request(self, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"POST {self._path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        # What http.client adds for WireConnection: the length, and no compression.
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Accept-Encoding: identity")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _connect(self, loop: asyncio.AbstractEventLoop, pool: list[_Link]) -> _Link:
        def lost(link: _Link) -> None:
            # An idle connection the server closed leaves the pool at once (not found dead later).
            if link in pool:
                pool.remove(link)

        link = _Link(loop, self._read_timeout, lost)
        context = self._ssl_context() if self._https else None
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    lambda: link,
                    self._hostname,
                    self._port,
                    ssl=context,
                    server_hostname=self._hostname if context is not None else None,
                )
        except OSError as exc:  # a timeout, TLS or socket error
            link.abort()
            raise connect_failure(self.endpoint_url, exc) from exc
        except BaseException:
            link.abort()
            raise
        self.connects += 1
        transport = link.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            # asyncio and uvloop set TCP_NODELAY themselves; said here as WireConnection says it.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return link

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = verified_context()
        return self._ssl

    def idle_count(self) -> int:
        """Idle connections kept for the running loop."""
        pool = self._pools.get(asyncio.get_running_loop())
        return 0 if pool is None else len(pool)

    async def aclose(self) -> None:
        """Close the idle connections of the running loop and wait until they are closed (a TLS close
        takes a round trip), at most a second before aborting the rest. Calls in flight close or
        keep theirs when they end."""
        pool = self._pools.pop(asyncio.get_running_loop(), None) or []
        for link in pool:
            link.close()
        pending = [link.gone for link in pool if not link.gone.done()]
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_WAIT_S)
        for link in pool:
            if not link.gone.done():
                link.abort()

    def close(self) -> None:
        """Close every loop's idle connections: now on the running loop, through its thread on another,
        and not at all on a closed loop (its transports cannot be closed any more; they go with it)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        pools = list(self._pools.items())
        self._pools.clear()
        for loop, pool in pools:
            for link in pool:
                if link.transport is None:
                    continue
                if loop is running:
                    link.close()
                elif loop.is_running():
                    loop.call_soon_threadsafe(link.close)
                elif not loop.is_closed():
                    link.abort()  # nothing will run a TLS close's round trip: the socket goes at once
