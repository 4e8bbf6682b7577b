"""A time-stamping TCP pipe (in the load generator's event loop) between the relay and the mock.

It forwards bytes both ways unchanged and, while `recording`, keeps every read with its arrival
time: `up` = relay → mock (the upstream request), `down` = mock → relay (the answer, chunk by chunk).
The chunk analysis pairs each content token leaving the mock with the same token (same chat id,
same index) arriving at the client through the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.load import Sample
from bench.sse import content_token, timed_events
from bench.stats import summary

__all__ = ["Read", "TcpTap", "chunk_delays", "listening_socket"]


def listening_socket() -> socket.socket:
    """A bound, listening loopback socket (so its port can go into a channel before the tap serves)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True, slots=True)
class Read:
    conn: int
    direction: str  # "up" (relay -> mock) or "down" (mock -> relay)
    t: float
    data: bytes


class TcpTap:
    def __init__(self, sock: socket.socket, upstream_host: str, upstream_port: int) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.upstream = (upstream_host, upstream_port)
        self.reads: list[Read] = []
        self.recording = False
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, sock=self.sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def reset(self) -> None:
        self.reads = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(OSError):
            up_writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(conn, "up", reader, up_writer), self._pipe(conn, "down", up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pipe(
        self, conn: int, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.recording:
                    self.reads.append(Read(conn, direction, time.perf_counter(), data))
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()

    def upstream_starts(self) -> list[float]:
        """Times at which an upstream request began (the first `up` read after a `down` on a connection)."""
        starts: list[float] = []
        last: dict[int, str] = {}
        for read in self.reads:
            if read.direction == "up" and last.get(read.conn) != "up":
                starts.append(read.t)
            last[read.conn] = read.direction
        return starts


def chunk_delays(reads: Sequence[Read], samples: Sequence[Sample]) -> dict[str, Any]:
    """Per content token: (arrival at the client through the relay) − (the tap's read from the mock).

    Tokens are matched by (chat id, index within the stream). `first` is the first token of each stream
    (it travels with the role chunk), `later` every other token."""
    by_conn: dict[int, list[tuple[float, bytes]]] = defaultdict(list)
    for read in reads:
        if read.direction == "down":
            by_conn[read.conn].append((read.t, read.data))
    mock_side: dict[tuple[str, int], float] = {}
    for chunks in by_conn.values():
        counters: dict[str, int] = defaultdict(int)
        for event in timed_events(chunks):
            chat_id = event.chat_id
            if chat_id is not None and content_token(event):
                mock_side[(chat_id, counters[chat_id])] = event.t
                counters[chat_id] += 1
    first: list[float] = []
    later: list[float] = []
    unmatched = 0
    for sample in samples:
        index = 0
        for event in timed_events(sample.chunks):
            chat_id = event.chat_id
            if chat_id is None or not content_token(event):
                continue
            t_in = mock_side.get((chat_id, index))
            if t_in is None:
                unmatched += 1
            else:
                (first if index == 0 else later).append((event.t - t_in) * 1000)
            index += 1
    return {
        "first_token_ms": summary(first),
        "later_tokens_ms": summary(later),
        "matched": len(first) + len(later),
        "unmatched": unmatched,
    }
