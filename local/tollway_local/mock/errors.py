"""OpenAI-shaped error bodies, and the exception handlers raise to answer one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable

#: Fake internal details inside every 5xx message, so relay tests can prove none of it reaches a customer.
LEAK_URL = "http://internal.mock/secret"
LEAK_KEY = "sk-upstream-secret"
LEAK_DETAIL = f"(upstream {LEAK_URL} rejected key {LEAK_KEY})"


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}` — all four keys, as OpenAI sends them."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class MockHTTPError(Exception):
    """Raised by handlers (or the dispatcher) to answer an OpenAI-shaped error instead of a result."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, code, param)
        self.headers = headers

    @property
    def code(self) -> str | None:
        code: str | None = self.body["error"]["code"]
        return code

    def render(self) -> bytes:
        return orjson.dumps(self.body)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> MockHTTPError:
    return MockHTTPError(400, message, "invalid_request_error", code, param)


def invalid_json() -> MockHTTPError:
    return bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        code="invalid_json",
    )


def missing_key() -> MockHTTPError:
    return MockHTTPError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    )


def wrong_key() -> MockHTTPError:
    return MockHTTPError(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key")


def fault_error(mode: str) -> MockHTTPError:
    """The error a fault mode answers with (`mode` must be a key of `FAULT_ERRORS`)."""
    return FAULT_ERRORS[mode]()


FAULT_ERRORS: dict[str, Callable[[], MockHTTPError]] = {
    "http500": lambda: MockHTTPError(
        500, f"The server had an error while processing your request. {LEAK_DETAIL}", "server_error", "server_error"
    ),
    "http502": lambda: MockHTTPError(
        502, f"Bad gateway: the upstream engine did not answer {LEAK_DETAIL}", "server_error", "bad_gateway"
    ),
    "http503": lambda: MockHTTPError(
        503,
        f"The engine is currently overloaded, please try again later. {LEAK_DETAIL}",
        "server_error",
        "service_unavailable",
    ),
    "http429": lambda: MockHTTPError(
        429,
        "Rate limit reached for requests. Please try again in 7s.",
        "requests",
        "rate_limit_exceeded",
        headers=(("retry-after", "7"), ("x-ratelimit-reset-requests", "7s")),
    ),
    "insufficient_quota": lambda: MockHTTPError(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "http401": wrong_key,
    "http400": lambda: MockHTTPError(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. "
        "Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    ),
    "http404": lambda: MockHTTPError(
        404,
        "The model `mock-missing` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
}


def mid_stream_error_event() -> bytes:
    """The SSE event `sse_error_after=K` sends: a top-level `error` object (the SDK raises `APIError` on it)."""
    body = error_body(f"The server had an error while processing your request. {LEAK_DETAIL}", "server_error")
    body["error"]["code"] = "server_error"
    return b"data: " + orjson.dumps(body) + b"\n\n"
