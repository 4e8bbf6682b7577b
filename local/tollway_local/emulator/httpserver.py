"""A threaded HTTP/1.1 server with keep-alive for the emulator's WSGI app.

Werkzeug's development server (3.1) answers every request with `Connection: close` and then waits
10 ms draining the socket, so boto3 would open a new TCP connection for every call. This handler
keeps werkzeug's request parsing and moto's environ fix-up (`MotoRequestHandler.make_environ`, for
S3 metadata headers with underscores) and replaces only the response path:

- the request body is read completely (Content-Length, or chunked) before the app runs, so the
  connection is positioned at the next request;
- the app's response is materialised (the emulator's app does that anyway) and sent with an exact
  Content-Length, without `Connection: close`;
- `Expect: 100-continue` is answered, as boto3 sends it for large S3 uploads;
- headers and body in one write (one segment: the client reads each answer at once), TCP_NODELAY;
- no request log line.

Chunked request bodies (rare: streaming S3 uploads) and errors close the connection afterwards.
"""

from __future__ import annotations

import io
import itertools
import traceback
from typing import TYPE_CHECKING, Any, NoReturn

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["KeepAliveRequestHandler", "make_http_server", "read_body"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body from `wsgi.input` (Content-Length or de-chunked) and replace the stream."""
    stream = environ.get("wsgi.input")
    if isinstance(stream, io.BytesIO):
        return stream.getvalue()
    body = b""
    if stream is not None:
        length = environ.get("CONTENT_LENGTH")
        if environ.get("wsgi.input_terminated"):
            body = stream.read()
        elif length:
            body = stream.read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _no_write(data: bytes) -> NoReturn:
    raise NotImplementedError("the emulator's server does not support the WSGI write() callable")


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler with an HTTP/1.1 keep-alive response path and no access log."""

    protocol_version = "HTTP/1.1"
    # No Nagle: a 100 Continue and its answer, or an error page, must not wait for a delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        counter = getattr(self.server, "connection_counter", None)
        if counter is not None:
            self.server.connections_opened = next(counter)  # type: ignore[attr-defined]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True  # chunked: don't trust the stream position afterwards
        try:
            read_body(environ)
        except (OSError, ValueError):
            self.close_connection = True
            self.send_error(400, "unreadable request body")
            return
        status, headers, payload = self._call_app(environ)
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        head = environ["REQUEST_METHOD"] == "HEAD"
        bodyless = head or code < 200 or code in (204, 304)
        self.send_response(code, reason)
        for name, value in headers:
            lowered = name.lower()
            # HEAD keeps the app's Content-Length (the size of what GET would return).
            if lowered not in _HOP_BY_HOP or (head and lowered == "content-length"):
                self.send_header(name, value)
        if not bodyless:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Headers and body in one write, as one segment: a client then wakes up once per answer
        # instead of twice (DynamoDB's small answers arrive whole too). end_headers() without its flush:
        self._headers_buffer.append(b"\r\n")
        if not bodyless and payload:
            self._headers_buffer.append(payload)
        self.flush_headers()
        self.wfile.flush()

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        response: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            response["status"], response["headers"] = status, headers
            return _no_write

        try:
            result = self.server.app(environ, start_response)
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            return response["status"], response["headers"], payload
        except Exception:
            self.close_connection = True
            self.server.log("error", "Error on request:\n" + traceback.format_exc())
            return "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"Internal Server Error"


def make_http_server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded server (one thread per connection) running `app` with the keep-alive handler.

    `server.connections_opened` counts accepted connections (to see that clients keep them alive).
    """
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveRequestHandler)
    server.connection_counter = itertools.count(1)  # type: ignore[attr-defined]
    server.connections_opened = 0  # type: ignore[attr-defined]
    return server
