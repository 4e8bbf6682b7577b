"""tollway.upstream.network: httpcore2's anyio backend with a cheap idle-connection probe."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import httpx2
import pytest
from tollway.settings import Settings
from tollway.upstream import network
from tollway.upstream.client import UpstreamClient
from tollway.upstream.network import ProbedBackend, ProbedStream, socket_readable

from tests.unit.tollway.test_dynamo_wire import _self_signed

LIMITS = httpx2.Limits(max_connections=8, max_keepalive_connections=8)


def test_socket_readable_follows_the_peer() -> None:
    mine, peer = socket.socketpair()
    try:
        assert socket_readable(mine) is False  # idle: nothing to read
        peer.sendall(b"x")
        assert socket_readable(mine) is True  # data waiting
        mine.recv(1)
        assert socket_readable(mine) is False
        peer.close()
        assert socket_readable(mine) is True  # the peer's close: the read would return b""
    finally:
        mine.close()
    assert socket_readable(mine) is True  # a closed socket (fileno -1): drop it
    assert socket_readable(None) is True


class Server:
    """HTTP/1.1 on loopback: answers each request ``ok``; ``close_after`` closes a connection after
    that many answers (with no ``Connection: close``, as a server's idle timeout would)."""

    def __init__(self, close_after: int | None = None, context: ssl.SSLContext | None = None) -> None:
        self.close_after = close_after
        self.context = context
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for handler in self.handlers:  # kept-alive connections: end their handlers before the loop closes
            handler.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.context else 'http'}://127.0.0.1:{port}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self.handlers.add(handler)
        answered = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        writer.close()


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    """The pool's probe sees the server's close, so the next request opens a new connection instead of
    failing on the dead one (with a probe that never saw it, the second request would fail)."""

    async def main() -> tuple[list[str], int, list[bool]]:
        async with Server(close_after=1) as server:
            async with httpx2.AsyncClient(transport=network.transport(LIMITS)) as client:
                first = await client.get(server.url)
                stream = first.extensions["network_stream"]
                for _ in range(100):  # until the server's close has reached our socket
                    if stream.get_extra_info("is_readable"):
                        break
                    await asyncio.sleep(0.01)
                probed = [isinstance(stream, ProbedStream), stream.get_extra_info("is_readable")]
                second = await client.get(server.url)
                return [first.text, second.text], server.connections, probed

    texts, connections, probed = asyncio.run(main())
    assert texts == ["ok", "ok"]
    assert connections == 2
    assert probed == [True, True]


def test_a_kept_alive_connection_is_reused() -> None:
    async def main() -> tuple[list[str], int, bool]:
        async with Server() as server:
            async with httpx2.AsyncClient(transport=network.transport(LIMITS)) as client:
                answers = [await client.get(server.url) for _ in range(3)]
                readable = answers[-1].extensions["network_stream"].get_extra_info("is_readable")
                return [a.text for a in answers], server.connections, readable

    assert asyncio.run(main()) == (["ok", "ok", "ok"], 1, False)


def test_tls_streams_keep_the_socket_and_pass_the_rest_through(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    async def main() -> tuple[str, bool, bool, bool, int]:
        async with Server(context=server_context) as server:
            async with httpx2.AsyncClient(transport=network.transport(LIMITS, verify=client_context)) as client:
                answer = await client.get(server.url)
                second = await client.get(server.url)
                stream = answer.extensions["network_stream"]
                return (
                    answer.text + second.text,
                    isinstance(stream, ProbedStream),
                    stream.get_extra_info("socket").fileno() >= 0,  # asyncio hands out a socket wrapper
                    isinstance(stream.get_extra_info("ssl_object"), ssl.SSLObject),  # the stock stream's answer
                    server.connections,
                )

    assert asyncio.run(main()) == ("okok", True, True, True, 1)


def test_the_relays_upstream_client_uses_the_probed_backend() -> None:
    client = UpstreamClient(Settings())._http()
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool._network_backend, ProbedBackend)


def test_a_changed_httpx2_is_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPool:
        def __init__(self, **kwargs: object) -> None:
            pass

    monkeypatch.setattr(network.httpx2, "AsyncHTTPTransport", NoPool)
    with pytest.raises(RuntimeError, match="no httpcore2 pool"):
        network.transport(LIMITS)


def test_a_streams_kept_probe_follows_its_socket() -> None:
    """The poll object a stream keeps answers like a fresh one, and a closed socket is readable."""

    class Inner:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def get_extra_info(self, info: str) -> object:
            return self.sock if info == "socket" else None

    mine, peer = socket.socketpair()
    stream = ProbedStream(Inner(mine))  # type: ignore[arg-type]
    assert stream.get_extra_info("is_readable") is False
    peer.sendall(b"x")
    assert stream.get_extra_info("is_readable") is True
    mine.recv(1)
    assert stream.get_extra_info("is_readable") is False
    mine.close()
    reused, other = socket.socketpair()  # may take the closed socket's descriptor number
    try:
        other.sendall(b"y")
        assert stream.get_extra_info("is_readable") is True  # closed: drop it, whatever the number holds
    finally:
        for s in (reused, other, peer):
            s.close()
