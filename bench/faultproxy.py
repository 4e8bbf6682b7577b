"""A loopback HTTP proxy in front of the emulator that can fault the next DynamoDB calls, and records them.

For the store-client comparison (`bench/storeclients.py`): does a client retry a throttled call, and
does it send the same ClientRequestToken again after a lost response (the write landed, the answer
did not)? Faults are queued: each DynamoDB call takes the next one, if any.

- `throttle`: answered `400 ThrottlingException` without reaching the emulator;
- `lost`: forwarded (the write lands), then answered `500 InternalServerError`.

Every call's operation and ClientRequestToken is recorded in arrival order.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Seen"]

_ERRORS = {
    "throttle": (
        400,
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "lost": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
}


@dataclass(frozen=True, slots=True)
class Seen:
    operation: str
    token: str | None
    fault: str | None


class FaultProxy:
    """`with FaultProxy(emulator_endpoint) as proxy:` … `proxy.endpoint`, `proxy.fault_next("lost")`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fault_next(self, *faults: str) -> None:
        with self._lock:
            self._faults.extend(faults)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        target = handler.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        try:
            token = json.loads(body or b"{}").get("ClientRequestToken")
        except ValueError:
            token = None
        with self._lock:
            fault = self._faults.popleft() if self._faults and operation else None
            self.seen.append(Seen(operation, token, fault))
        if fault != "throttle":
            status, headers, answer = self._forward(handler, body)
        if fault is not None:
            status, error_type, message = _ERRORS[fault]
            answer = json.dumps({"__type": error_type, "message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0")]
        handler.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            headers = {name: value for name, value in handler.headers.items() if name.lower() != "connection"}
            connection.request("POST", handler.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()
