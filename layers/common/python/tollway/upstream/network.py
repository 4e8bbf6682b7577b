"""httpcore2's anyio network backend, with the pool's idle-connection probe made cheap.

httpcore2's connection pool re-checks every idle keep-alive connection each time a request joins or
leaves the pool: ``has_expired()`` asks the stream whether its socket is readable (a readable idle
socket means the server closed it). The stock stream answers that by looking the socket up through
anyio's typed attributes, which builds a dict of lambdas on every call, before one ``poll``. With a
few dozen idle upstream connections that lookup was ≈0.1 ms of the relay's CPU per request (py-spy,
C=16 benchmark).

:class:`ProbedBackend` is httpcore2's own :class:`httpcore2.AnyIOBackend`; each stream it opens keeps its
raw socket from the start (the socket under a TLS stream is the same object) and answers the probe
with one ``poll`` on it. Reads, writes, timeouts, TLS and their errors are the stock stream's: every
other call is passed through unchanged.
"""

# httpcore2's network interface passes timeouts as arguments; these classes implement it as it is.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

__all__ = ["ProbedBackend", "ProbedStream", "socket_readable", "transport"]


def socket_readable(sock: socket.socket | None, probe: select.poll | None = None) -> bool:
    """Whether a read would not block: data, or the end of the stream (as httpcore2 decides it).

    A missing or closed socket counts as readable, so the pool drops the connection. ``probe`` is a
    poll object that already has the socket's descriptor registered (for POLLIN), kept by the caller.
    """
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    if probe is None:
        probe = select.poll()
        probe.register(fd, select.POLLIN)
    return bool(probe.poll(0))


class ProbedStream(httpcore2.AsyncNetworkStream):
    """A stock network stream that remembers its raw socket for the pool's probe."""

    __slots__ = ("_inner", "_probe", "_sock")

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")
        # One poll object for the stream's life, its descriptor registered once. The descriptor is
        # checked before each poll (a closed socket's is -1), so a number reused by a later socket is
        # never polled for this one.
        self._probe: select.poll | None = None
        fd = self._sock.fileno() if self._sock is not None else -1
        if fd >= 0:
            self._probe = select.poll()
            self._probe.register(fd, select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return ProbedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return socket_readable(self._sock, self._probe)
        if info == "socket":
            return self._sock
        return self._inner.get_extra_info(info)


class ProbedBackend(httpcore2.AnyIOBackend):
    """httpcore2's anyio backend whose TCP streams are :class:`ProbedStream`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        return ProbedStream(stream)


def transport(limits: httpx2.Limits, verify: ssl.SSLContext | bool = True) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport (no proxy from the environment) whose pool opens :class:`ProbedStream`s.

    httpx2's transport takes no network backend argument; its pool (httpcore2's
    ``AsyncConnectionPool``, built in the transport's constructor) does, and reads it only when it
    opens a connection, so it is set before the first request.

    Raises:
        RuntimeError: httpx2's transport no longer has the pool this relies on (a changed httpx2).
    """
    built = httpx2.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    pool = getattr(built, "_pool", None)
    if not isinstance(pool, httpcore2.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx2's AsyncHTTPTransport has no httpcore2 pool to give a network backend")
    pool._network_backend = ProbedBackend()
    return built
