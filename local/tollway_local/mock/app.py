"""`create_mock_app`: the mock upstream as a Starlette app.

One catch-all route hands every request to `MockDispatcher`, which routes on the path *suffix* so a channel
base URL with any prefix works (`/v1/chat/completions`, `/chat/completions`, `/fault/http500/v1/...`,
`/openai/deployments/x/chat/completions`). Order of checks for an endpoint request:

1. route (404 / 405), 2. auth (401), 3. body (400 invalid_json), 4. faults from the path, the
`X-Mock-Fault` header and `[[fault:...]]` markers (400 on an unknown mode), 5. `X-Mock-*` pacing headers,
6. `slow_first`, `timeout`, then an error mode, 7. the endpoint's handler.
"""

from __future__ import annotations

import hmac
import math
from typing import TYPE_CHECKING

import orjson
from starlette.applications import Starlette
from starlette.routing import Route

from tollway_local.mock.bedrock import BEDROCK_PATH, handle_bedrock
from tollway_local.mock.config import MockConfig, Pacing
from tollway_local.mock.context import Endpoint, MockRequest
from tollway_local.mock.endpoints import ENDPOINTS
from tollway_local.mock.endpoints.messages import check_anthropic_headers
from tollway_local.mock.errors import (
    MockHTTPError,
    bad_request,
    fault_error,
    invalid_json,
    missing_key,
    wrong_key,
)
from tollway_local.mock.faults import (
    Faults,
    UnknownFaultError,
    parse_faults,
    specs_from_path,
    specs_from_texts,
    split_specs,
)
from tollway_local.mock.responses import ErrorResponse, install_log_filter, send_whole, sleep_watching
from tollway_local.mock.stats import MockStats, RequestRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import ASGIApp, Receive, Scope, Send

STATS_SUFFIX = "/_mock/stats"
RESET_SUFFIX = "/_mock/reset"


class _ClientGoneError(Exception):
    """The client disconnected before the mock answered: there is nobody to answer."""


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    """The 'response' to a client that already left."""


class MockDispatcher:
    """The raw ASGI app behind `create_mock_app`; holds the config, the endpoints and the stats."""

    def __init__(self, config: MockConfig, endpoints: Sequence[Endpoint]) -> None:
        self.config = config
        self.stats = MockStats(log_size=config.log_size)
        self.endpoints = sorted(endpoints, key=lambda e: len(e.suffix), reverse=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route_path = path.rstrip("/") or "/"
        if route_path.endswith(STATS_SUFFIX) and method == "GET":
            await self._inspect(send, orjson.dumps(self.stats.snapshot()))
            return
        if route_path.endswith(RESET_SUFFIX) and method == "POST":
            self.stats.reset()
            await self._inspect(send, b'{"reset":true}')
            return
        if BEDROCK_PATH.search(route_path):
            await handle_bedrock(self, scope, receive, send)  # AWS-signed, AWS-shaped: a dialect of its own
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        record = self.stats.new_record(method, path, scope.get("query_string", b"").decode("latin-1"), headers)
        try:
            response = await self._handle(scope, receive, route_path, headers, record)
        except MockHTTPError as error:
            response = ErrorResponse(record, self.config, error)
        except _ClientGoneError:
            record.outcome = "client_disconnected"
            return
        await response(scope, receive, send)

    async def _inspect(self, send: Send, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"x-mock-request-id", self.stats.next_id().encode())]
        await send_whole(send, 200, headers, body)

    def match(self, route_path: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.pattern is not None:
                if endpoint.pattern.search(route_path):
                    return endpoint
            elif route_path.endswith(endpoint.suffix):
                return endpoint
        return None

    async def _handle(
        self, scope: Scope, receive: Receive, route_path: str, headers: dict[str, str], record: RequestRecord
    ) -> ASGIApp:
        method = record.method
        endpoint = self.match(route_path)
        if endpoint is None:
            raise MockHTTPError(404, f"Invalid URL ({method} {record.path})")
        record.endpoint = endpoint.suffix
        record.dialect = _dialect(endpoint, headers)
        if method not in endpoint.methods:
            raise MockHTTPError(405, f"Invalid method for URL ({method} {record.path})")
        if record.dialect == "anthropic":
            check_anthropic_headers(headers, self.config, versioned=endpoint.dialect == "anthropic")
        else:
            _check_auth(headers, self.config)
        raw_body = await _read_body(receive)
        body = self._parse_body(endpoint, raw_body, record)
        faults = _faults(endpoint, record.path, headers, body, self.config)
        record.faults = faults.modes
        req = MockRequest(
            scope=scope,
            receive=receive,
            method=method,
            path=record.path,
            headers=headers,
            raw_body=raw_body,
            body=body,
            faults=faults,
            pacing=_pacing(headers, self.config),
            config=self.config,
            stats=self.stats,
            record=record,
        )
        if faults.slow_first_ms and await sleep_watching(receive, faults.slow_first_ms / 1000.0):
            return _client_gone(record)
        if faults.timeout:
            if await sleep_watching(receive, self.config.max_stall_s):
                return _client_gone(record)
            raise MockHTTPError(504, "mock upstream: timeout fault reached its cap", "server_error", "timeout")
        if faults.error:
            raise fault_error(faults.error, record.dialect)
        return await endpoint.handler(req)

    def _parse_body(self, endpoint: Endpoint, raw_body: bytes, record: RequestRecord) -> object:
        if not endpoint.json_body:
            return None
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            record.body = raw_body[:2000].decode("utf-8", "replace")
            raise invalid_json() from None
        too_big = len(raw_body) > self.config.log_body_max_bytes
        record.body = {"_omitted_bytes": len(raw_body)} if too_big else body
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.", code="invalid_type")
        return body


def _client_gone(record: RequestRecord) -> ASGIApp:
    record.outcome = "client_disconnected"
    return _nothing


def _dialect(endpoint: Endpoint, headers: dict[str, str]) -> str:
    if endpoint.dialect == "auto":
        return "anthropic" if "anthropic-version" in headers else "openai"
    return endpoint.dialect


def _check_auth(headers: dict[str, str], config: MockConfig) -> None:
    authorization = headers.get("authorization", "")
    key = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    key = key or headers.get("api-key", "").strip()
    if not key:
        raise missing_key()
    if config.api_key is not None and not hmac.compare_digest(key.encode(), config.api_key.encode()):
        raise wrong_key()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _faults(endpoint: Endpoint, path: str, headers: dict[str, str], body: object, config: MockConfig) -> Faults:
    specs = list(config.faults)
    specs += specs_from_path(path)
    specs += split_specs(headers.get("x-mock-fault", ""))
    if endpoint.fault_texts is not None and body is not None:
        specs += specs_from_texts(endpoint.fault_texts(body))
    try:
        return parse_faults(specs)
    except UnknownFaultError as exc:
        raise bad_request(str(exc), code="unknown_fault_mode") from None


def _header_number(headers: dict[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        raise bad_request(
            f"mock upstream: header {name} must be a number >= 0, got {raw!r}", code="invalid_mock_header"
        )
    return value


def _pacing(headers: dict[str, str], config: MockConfig) -> Pacing:
    latency_ms = _header_number(headers, "x-mock-latency-ms", config.latency_ms)
    if math.isinf(latency_ms):
        raise bad_request("mock upstream: x-mock-latency-ms must be finite", code="invalid_mock_header")
    return Pacing.of(latency_ms, _header_number(headers, "x-mock-tokens-per-s", config.tokens_per_s))


class MockApp(Starlette):
    """A Starlette app whose HTTP requests go straight to the dispatcher.

    Starlette's middleware stack wraps `send` twice, which costs more per SSE chunk than the mock itself
    does; the dispatcher answers every request (bugs included: uvicorn turns them into a 500), so HTTP skips
    the stack. Lifespan and anything else still goes through Starlette.
    """

    def __init__(self, dispatcher: MockDispatcher) -> None:
        super().__init__(routes=[Route("/{path:path}", dispatcher)])
        self.dispatcher = dispatcher
        self.state.mock = dispatcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.dispatcher(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_mock_app(config: MockConfig | None = None, *, endpoints: Sequence[Endpoint] = ENDPOINTS) -> MockApp:
    """The mock upstream as an ASGI app (no I/O). `app.dispatcher` (also `app.state.mock`) holds config and stats."""
    install_log_filter()
    return MockApp(MockDispatcher(config or MockConfig(), endpoints))


__all__ = ["MockApp", "MockDispatcher", "create_mock_app"]
