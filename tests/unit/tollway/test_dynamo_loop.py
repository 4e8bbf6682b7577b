"""tollway.dynamo_loop against a scripted HTTP server on loopback: framing, the pool, and every fault.

The server is a plain socket server in a thread, so each answer is exactly the bytes a case needs
(chunked, close-delimited, cut off, never sent). Every case runs on asyncio's loop and on uvloop (the
relay's). No wall-clock assertions: timeouts are set short and only their error is checked.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from tollway.dynamo_loop import LoopConnection

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

# One scripted answer: what to send after reading a request (None: send nothing), then whether to close.
Step = tuple[bytes | None, bool]


def answer(body: bytes = b'{"ok":true}', *, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nx-amzn-RequestId: r-1\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Scripted:
    """Answers each request it reads with the next scripted step; records requests and connections."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._context = context
        self.steps: queue.Queue[Step] = queue.Queue()
        self.requests: list[bytes] = []
        self.connections = 0
        self.read_one = threading.Event()  # a request arrived (for cancellation tests)
        self.peer_closed = threading.Event()  # a client closed a connection the server still held
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self.port}"

    def script(self, *steps: Step) -> None:
        for step in steps:
            self.steps.put(step)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self._context is not None:
            try:
                conn = self._context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                return
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self.peer_closed.set()
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                self.read_one.set()
                payload, close = self.steps.get(timeout=10)
                if payload is not None:
                    conn.sendall(payload)
                if close:
                    return
                if payload is None:  # hold the request unanswered until the client gives up
                    conn.settimeout(10)
                    try:
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                    self.peer_closed.set()
                    return

    def close(self) -> None:
        self._stop = True
        self._listener.close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """Runs coroutines on one loop of each kind for the test (the pool lives as long as the loop)."""
    with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
        yield runner.run


def _connection(url: str, *, read_timeout: float = 5.0, max_idle: int = 32) -> LoopConnection:
    return LoopConnection(url, connect_timeout=2.0, read_timeout=read_timeout, max_idle=max_idle)


HEADERS = {
    "Host": "127.0.0.1",
    "X-Amz-Target": "DynamoDB_20120810.GetItem",
    "Content-Type": "application/x-amz-json-1.0",
}


def test_an_answer_and_the_request_on_the_wire(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((answer(b'{"Item":{}}'), False))
    conn = _connection(server.url)

    async def main() -> Any:
        result = await conn.post(HEADERS, b'{"TableName":"t"}')
        await conn.aclose()
        return result

    status, headers, body, resends = run(main())
    assert (status, body, resends) == (200, b'{"Item":{}}', 0)
    assert ("x-amzn-RequestId", "r-1") in headers  # as sent: names keep their case, like http.client's
    head, _, sent = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST / HTTP/1.1"
    assert b"X-Amz-Target: DynamoDB_20120810.GetItem" in lines
    assert b"Content-Length: 17" in lines and b"Accept-Encoding: identity" in lines
    assert sent == b'{"TableName":"t"}'


def test_one_connection_is_kept_and_reused(server: Scripted, run: Callable[..., Any]) -> None:
    server.script(*[(answer(), False)] * 3)
    conn = _connection(server.url)

    async def main() -> list[int]:
        resends = [(await conn.post(HEADERS, b"{}"))[3] for _ in range(3)]
        assert conn.idle_count() == 1
        await conn.aclose()
        return resends

    assert run(main()) == [0, 0, 0]
    assert server.connections == 1 and conn.connects == 1


def test_concurrent_calls_each_get_a_connection_and_idle_ones_are_capped(
    server: Scripted, run: Callable[..., Any]
) -> None:
    server.script(*[(answer(), False)] * 4)
    conn = _connection(server.url, max_idle=2)

    async def main() -> int:
        await asyncio.gather(*(conn.post(HEADERS, b"{}") for _ in range(4)))
        idle = conn.idle_count()
        await conn.aclose()
        return idle

    assert run(main()) == 2
    assert conn.connects == 4


def test_a_chunked_answer(server: Scripted, run: Callable[..., Any]) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n4\r\n1234\r\n1\r\n}\r\n0\r\nTrailer: x\r\n\r\n'
    )
    server.script((chunked, False), (answer(), False))
    conn = _connection(server.url)

    async def main() -> tuple[Any, Any]:
        first = await conn.post(HEADERS, b"{}")
        second = await conn.post(HEADERS, b"{}")  # the chunked answer left the connection clean
        await conn.aclose()
        return first, second

    first, second = run(main())
    assert first[0] == 200 and first[2] == b'{"a":1234}'
    assert second[2] == b'{"ok":true}' and conn.connects == 1


def test_a_close_delimited_answer(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbusy, later", True))
    server.script((answer(), False))
    conn = _connection(server.url)

    async def main() -> tuple[Any, int]:
        first = await conn.post(HEADERS, b"{}")
        idle = conn.idle_count()
        await conn.post(HEADERS, b"{}")
        await conn.aclose()
        return first, idle

    first, idle = run(main())
    assert first[0] == 503 and first[2] == b"busy, later"
    assert idle == 0 and conn.connects == 2  # never reused


def test_connection_close_is_honoured(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((answer(extra="Connection: close\r\n"), True), (answer(), False))
    conn = _connection(server.url)

    async def main() -> None:
        await conn.post(HEADERS, b"{}")
        assert conn.idle_count() == 0
        await conn.post(HEADERS, b"{}")
        await conn.aclose()

    run(main())
    assert conn.connects == 2


def test_an_idle_connection_the_server_closed_leaves_the_pool(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((answer(), True), (answer(), False))  # answered with keep-alive, then closed while idle
    conn = _connection(server.url)

    async def main() -> int:
        await conn.post(HEADERS, b"{}")
        for _ in range(200):  # until the loop has seen the close (bounded)
            if conn.idle_count() == 0:
                break
            await asyncio.sleep(0.01)
        assert conn.idle_count() == 0
        resends = (await conn.post(HEADERS, b"{}"))[3]
        await conn.aclose()
        return resends

    assert run(main()) == 0  # found closed before use: a fresh connection, nothing re-sent
    assert conn.connects == 2


def test_a_kept_alive_connection_closed_without_an_answer_is_sent_again(
    server: Scripted, run: Callable[..., Any]
) -> None:
    # The second request reaches the kept-alive connection and the server drops it unanswered (the race
    # with an idle timeout): sent once more, on a fresh connection, and counted.
    server.script((answer(), False), (b"", True), (answer(b'{"again":1}'), False))
    conn = _connection(server.url)

    async def main() -> Any:
        await conn.post(HEADERS, b"{}")
        result = await conn.post(HEADERS, b'{"n":2}')
        await conn.aclose()
        return result

    status, _, body, resends = run(main())
    assert (status, body, resends) == (200, b'{"again":1}', 1)
    assert conn.connects == 2
    assert server.requests[1].endswith(b'{"n":2}') and server.requests[2].endswith(b'{"n":2}')


def test_the_re_send_goes_on_a_fresh_connection_not_another_idle_one(server: Scripted, run: Callable[..., Any]) -> None:
    # Two idle connections; the one taken turns out closed: the other idle one may be just as stale
    # (a server restart), so the one re-send opens a new connection.
    server.script((answer(), False), (answer(), False), (b"", True), (answer(b'{"fresh":1}'), False))
    conn = _connection(server.url)

    async def main() -> Any:
        await asyncio.gather(conn.post(HEADERS, b"{}"), conn.post(HEADERS, b"{}"))
        assert conn.idle_count() == 2
        result = await conn.post(HEADERS, b"{}")
        await conn.aclose()
        return result

    status, _, body, resends = run(main())
    assert (status, body, resends) == (200, b'{"fresh":1}', 1)
    assert conn.connects == 3


def test_a_fresh_connection_closed_without_an_answer_is_not_sent_again(
    server: Scripted, run: Callable[..., Any]
) -> None:
    server.script((b"", True))
    conn = _connection(server.url)
    with pytest.raises(ConnectionClosedError):
        run(conn.post(HEADERS, b"{}"))
    assert len(server.requests) == 1


def test_a_close_mid_answer_is_an_error_and_not_sent_again(server: Scripted, run: Callable[..., Any]) -> None:
    whole = answer(b'{"Item":{"a":{"S":"bcdefgh"}}}')
    server.script((answer(), False), (whole[:-10], True))
    conn = _connection(server.url)

    async def main() -> None:
        await conn.post(HEADERS, b"{}")
        try:
            await conn.post(HEADERS, b"{}")  # on the kept-alive connection, but part of an answer came
        finally:
            assert conn.idle_count() == 0

    with pytest.raises(ConnectionClosedError):
        run(main())
    assert len(server.requests) == 2


def test_a_slow_answer_is_a_read_timeout(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((None, False))
    conn = _connection(server.url, read_timeout=0.2)

    async def main() -> None:
        try:
            await conn.post(HEADERS, b"{}")
        finally:
            assert conn.idle_count() == 0

    with pytest.raises(ReadTimeoutError):
        run(main())
    assert server.peer_closed.wait(timeout=5)  # the connection was closed, not kept half-read


def test_a_cancelled_call_closes_its_connection(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((None, False), (answer(), False))
    conn = _connection(server.url)

    async def main() -> Any:
        task = asyncio.create_task(conn.post(HEADERS, b"{}"))
        assert await asyncio.to_thread(server.read_one.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.idle_count() == 0
        result = await conn.post(HEADERS, b"{}")  # a new connection, not the half-read one
        await conn.aclose()
        return result

    assert run(main())[0] == 200
    assert server.peer_closed.wait(timeout=5)
    assert conn.connects == 2


def test_garbage_is_a_closed_connection(server: Scripted, run: Callable[..., Any]) -> None:
    server.script((b"SMTP ready\r\n\r\n", False))
    conn = _connection(server.url)
    with pytest.raises(ConnectionClosedError):
        run(conn.post(HEADERS, b"{}"))


def test_an_unreachable_endpoint(run: Callable[..., Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    conn = _connection(f"http://127.0.0.1:{port}")
    with pytest.raises(EndpointConnectionError):
        run(conn.post(HEADERS, b"{}"))


def test_a_connect_that_never_completes_is_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(60)

    conn = LoopConnection("http://127.0.0.1:9", connect_timeout=0.05, read_timeout=1.0)

    async def main() -> None:
        monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", never)
        await conn.post(HEADERS, b"{}")

    with pytest.raises(ConnectTimeoutError):
        asyncio.run(main())


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from tests.unit.tollway.test_dynamo_wire import _self_signed as make

    return make(directory)


def test_https_verifies_against_the_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Callable[..., Any]
) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Scripted(context)
    try:
        monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        with pytest.raises(SSLError):  # certifi's roots do not know this certificate
            run(_connection(server.url).post(HEADERS, b"{}"))
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        server.script((answer(), False))
        conn = _connection(server.url)

        async def main() -> Any:
            result = await conn.post(HEADERS, b"{}")
            await conn.aclose()
            return result

        assert run(main())[2] == b'{"ok":true}'
    finally:
        server.close()


def test_close_closes_the_idle_connections_of_every_loop(server: Scripted) -> None:
    server.script(*[(answer(), False)] * 2)
    conn = _connection(server.url)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(conn.post(HEADERS, b"{}"))
        conn.close()  # outside the loop: the loop is not running, its transports close at once
        assert runner.run(_idle(conn)) == 0
        runner.run(asyncio.sleep(0.01))
    assert server.peer_closed.wait(timeout=5)


async def _idle(conn: LoopConnection) -> int:
    return conn.idle_count()
