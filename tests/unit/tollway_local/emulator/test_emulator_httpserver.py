"""tollway_local.emulator.httpserver: an answer goes out whole, on a connection kept alive."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tollway_local.emulator.httpserver import KeepAliveRequestHandler, make_http_server


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
    return [b'{"echo":', body or b'""', b"}"]


class _Counting:
    """The handler's socket writer, counting its writes."""

    writes: list[bytes] = []

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, data: bytes) -> int:
        _Counting.writes.append(bytes(data))
        return int(self._inner.write(data))

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    setup = KeepAliveRequestHandler.setup

    def counting_setup(self: KeepAliveRequestHandler) -> None:
        setup(self)
        self.wfile = _Counting(self.wfile)  # type: ignore[assignment]

    monkeypatch.setattr(KeepAliveRequestHandler, "setup", counting_setup)
    _Counting.writes = []
    srv = make_http_server("127.0.0.1", 0, _app)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", srv.server_port
    srv.shutdown()
    srv.server_close()


def test_each_answer_is_one_write_and_the_connection_stays_open(server: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*server, timeout=5)
    for n in (1, 2):
        conn.request("POST", "/", body=str(n).encode(), headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        assert answer.status == 200 and answer.read() == b'{"echo":%d}' % n
    conn.close()
    assert len(_Counting.writes) == 2  # headers and body together, once per answer
    assert all(w.startswith(b"HTTP/1.1 200") and w.endswith(b"}") for w in _Counting.writes)
    assert all(b"Connection: close" not in w for w in _Counting.writes)
