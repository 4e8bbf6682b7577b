"""What the SSRF tests control: the resolver (names → addresses), a socket guard that records every
connection attempt (and lets through only the test's own receiver), and that receiver."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

NAMES: dict[str, list[str]] = {
    "private.test": ["10.9.9.9"],
    "meta.test": ["169.254.169.254"],
    "loop.test": ["127.0.0.1"],
    "v6loop.test": ["::1"],
    "ula.test": ["fd00:ec2::254"],
    "cgnat.test": ["100.64.0.7"],
    "rebind.test": ["93.184.216.34", "10.0.0.1"],  # one public answer does not make it safe
    "public.test": ["93.184.216.34"],
}


def resolver(host: str, port: int) -> list[str]:
    """The test's DNS: known names, IP literals as themselves, anything else does not resolve."""
    if host in NAMES:
        return list(NAMES[host])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise OSError(f"{host} does not resolve") from None
    return [host]


@dataclass
class SocketGuard:
    """Every ``socket.create_connection`` is recorded; only ``allowed`` ones are made."""

    allowed: set[tuple[str, int]] = field(default_factory=set)
    attempts: list[tuple[str, int]] = field(default_factory=list)

    def blocked_attempts(self) -> list[tuple[str, int]]:
        return [a for a in self.attempts if a not in self.allowed]


@pytest.fixture
def socket_guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    guard = SocketGuard()
    real = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        target = (str(address[0]), int(address[1]))
        guard.attempts.append(target)
        if target not in guard.allowed:
            raise ConnectionRefusedError(f"socket guard: no connection to {target} in this test")
        return real(address, *args, **kwargs)

    def no_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            raise AssertionError("the system resolver must not be used: the policy's resolver decides") from None
        return real_getaddrinfo(host, *args, **kwargs)  # an address literal: no lookup happens

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    return guard


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookReceiver:
    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn to POSTs, then 200

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


#: How a receiver answers one path (looked up per request: a test may add routes after the start).
Route = Callable[[BaseHTTPRequestHandler], None]


def start_receiver(routes: dict[str, Route] | None = None) -> HookReceiver:
    holder: dict[str, HookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> bytes:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            holder["r"].hits.append(Hit(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            return body

        def do_GET(self) -> None:
            self._record()
            route = (routes or {}).get(self.path)
            if route is not None:
                route(self)
                return
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", "3")
            self.end_headers()
            self.wfile.write(b"png")

        def do_POST(self) -> None:
            self._record()
            route = (routes or {}).get(self.path)
            if route is not None:
                route(self)
                return
            statuses = holder["r"].statuses
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HookReceiver(server)
    holder["r"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def redirect_to(location: str) -> Route:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("location", location)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return answer


def large_body(size: int) -> Route:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "image/png")
        handler.send_header("content-length", str(size))
        handler.end_headers()
        handler.wfile.write(b"x" * size)

    return answer


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    found = start_receiver(
        {
            "/to-metadata": redirect_to("https://169.254.169.254/latest/meta-data/"),
            "/to-private-name": redirect_to("https://private.test/x"),
            "/to-self": redirect_to("/ok"),
            "/big": large_body(50_000),
        }
    )
    yield found
    found.server.shutdown()
    found.server.server_close()
