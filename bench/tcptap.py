"""A time-stamping TCP pipe in the benchmark's event loop.

Two of them time each streamed chunk through the relay without depending on when the (shared) CPU 0
lets this process run:

    mock ──▶ upstream tap ──▶ relay (CPU 1) ──▶ client tap ──▶ load generator

- the upstream tap notes when it finished writing each chunk to the relay's socket (`t_tx`: the
  relay can read it from then on);
- the client tap reads the relay's output with kernel receive timestamps (`SO_TIMESTAMPNS`: when
  the bytes arrived on loopback, i.e. when the relay sent them), `t_rx`.

Per token, `t_rx` (client tap) − `t_tx` (upstream tap) is the relay's forwarding delay plus a
loopback hop. Both are CLOCK_REALTIME nanoseconds. Each read also keeps `t`, `time.perf_counter()`
when it was read, for ordering against the load generator's own times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.sse import content_token, timed_events
from bench.stats import summary

__all__ = ["Read", "TcpTap", "chunk_delays", "listening_socket"]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
_ANCILLARY = socket.CMSG_SPACE(16)


def listening_socket() -> socket.socket:
    """A bound, listening loopback socket (its port can go into a channel before the tap serves)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True, slots=True)
class Read:
    conn: int
    direction: str  # "up" (client side -> server side) or "down" (server side -> client side)
    t: float  # time.perf_counter() when read
    t_rx: int  # kernel receive time of the read's first byte (CLOCK_REALTIME ns; 0 if unknown)
    t_tx: int  # when the tap had written it on (CLOCK_REALTIME ns)
    data: bytes


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return int(seconds * 1_000_000_000 + nanos)
    return 0


class TcpTap:
    def __init__(self, sock: socket.socket, upstream_host: str, upstream_port: int) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.upstream = (upstream_host, upstream_port)
        self.reads: list[Read] = []
        self.recording = False
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: set[socket.socket] = set()
        self._acceptor: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def start(self) -> None:
        if self._acceptor is None:
            self._acceptor = asyncio.get_running_loop().create_task(self._accept())

    async def close(self) -> None:
        tasks = [t for t in (self._acceptor, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for sock in (*self._sockets, self.sock):
            sock.close()
        self._acceptor = None

    def reset(self) -> None:
        self.reads = []

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(self.sock)
            self._spawn(self._serve(client))

    async def _serve(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pair = (client, upstream)
        self._sockets.update(pair)
        try:
            for sock in pair:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            await loop.sock_connect(upstream, self.upstream)
            conn = next(self._ids)
            await asyncio.gather(self._pipe(conn, "up", client, upstream), self._pipe(conn, "down", upstream, client))
        except OSError:
            pass
        finally:
            for sock in pair:
                self._sockets.discard(sock)
                sock.close()

    async def _pipe(self, conn: int, direction: str, src: socket.socket, dst: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data, t_rx = await self._recv(src)
                if not data:
                    break
                t = time.perf_counter()
                await loop.sock_sendall(dst, data)
                if self.recording:
                    self.reads.append(Read(conn, direction, t, t_rx, time.time_ns(), data))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    @staticmethod
    async def _recv(sock: socket.socket) -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data, ancillary, _, _ = sock.recvmsg(65536, _ANCILLARY)
                return data, _kernel_time(ancillary)
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(sock.fileno(), _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(sock.fileno())

    def upstream_starts(self) -> list[float]:
        """perf_counter times at which a request began on a connection (the first `up` read after a
        `down` one, or the connection's first)."""
        starts: list[float] = []
        last: dict[int, str] = {}
        for read in self.reads:
            if read.direction == "up" and last.get(read.conn) != "up":
                starts.append(read.t)
            last[read.conn] = read.direction
        return starts


def _token_times(reads: Sequence[Read], *, kernel: bool) -> dict[tuple[str, int], int]:
    """(chat id, token index) -> time, from the `down` reads of one tap."""
    by_conn: dict[int, list[tuple[float, bytes]]] = defaultdict(list)
    for read in reads:
        if read.direction == "down":
            by_conn[read.conn].append((float(read.t_rx if kernel else read.t_tx), read.data))
    out: dict[tuple[str, int], int] = {}
    for chunks in by_conn.values():
        counters: dict[str, int] = defaultdict(int)
        for event in timed_events(chunks):
            chat_id = event.chat_id
            if chat_id is not None and content_token(event):
                out[(chat_id, counters[chat_id])] = int(event.t)
                counters[chat_id] += 1
    return out


def chunk_delays(upstream: Sequence[Read], client: Sequence[Read]) -> dict[str, Any]:
    """Per content token: sent by the relay (kernel time at the client tap) − handed to the relay
    (the upstream tap's write), in ms. `first` = each stream's first token (it travels with the role
    chunk), `later` = the others; `negative` counts tokens that shared a read with an earlier one."""
    sent = _token_times(client, kernel=True)
    received = _token_times(upstream, kernel=False)
    first: list[float] = []
    later: list[float] = []
    unmatched = negative = 0
    for (chat_id, index), t_out in sent.items():
        t_in = received.get((chat_id, index))
        if t_in is None or t_out == 0:
            unmatched += 1
            continue
        delay = (t_out - t_in) / 1e6
        negative += delay < 0
        (first if index == 0 else later).append(delay)
    return {
        "first_token_ms": summary(first),
        "later_tokens_ms": summary(later),
        "matched": len(first) + len(later),
        "unmatched": unmatched,
        "negative": negative,
    }
