"""Error bodies in OpenAI's shape (and Anthropic's, for the Messages endpoints), and the exception handlers
raise to answer one."""

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
        anthropic_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, code, param)
        self.headers = headers
        #: The `error.type` in Anthropic's shape; by default the one Anthropic uses for `status`.
        self.anthropic_type = anthropic_type or ANTHROPIC_TYPES.get(
            status, "invalid_request_error" if status < 500 else "api_error"
        )

    @property
    def code(self) -> str | None:
        code: str | None = self.body["error"]["code"]
        return code

    def render(self, dialect: str = "openai", request_id: str = "") -> bytes:
        if dialect == "anthropic":
            return orjson.dumps(anthropic_error_body(self.anthropic_type, str(self), request_id))
        return orjson.dumps(self.body)


#: Anthropic's `error.type` for each status (its errors page); other 4xx are `invalid_request_error`.
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_body(type_: str, message: str, request_id: str = "") -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}, "request_id"}` — Anthropic's error shape."""
    body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


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


def fault_error(mode: str, dialect: str = "openai") -> MockHTTPError:
    """The error a fault mode answers with (`mode` must be a key of `FAULT_ERRORS`), in the endpoint's dialect."""
    if dialect == "anthropic" and mode in ANTHROPIC_FAULT_ERRORS:
        return ANTHROPIC_FAULT_ERRORS[mode]()
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
    "http403": lambda: MockHTTPError(
        403, "You are not allowed to sample from this model", "invalid_request_error", "model_not_allowed"
    ),
    "http529": lambda: MockHTTPError(529, f"Overloaded {LEAK_DETAIL}", "server_error", "overloaded"),
}

#: The same modes as Anthropic answers them (messages and headers from its API; docs/mock-upstream.md).
ANTHROPIC_FAULT_ERRORS: dict[str, Callable[[], MockHTTPError]] = {
    "http401": lambda: MockHTTPError(401, "invalid x-api-key"),
    "http403": lambda: MockHTTPError(403, "Your API key does not have permission to use the specified resource."),
    "http404": lambda: MockHTTPError(404, "model: mock-missing"),
    "http400": lambda: MockHTTPError(400, "prompt is too long: 230000 tokens > 200000 maximum"),
    "http429": lambda: MockHTTPError(
        429,
        "This request would exceed the rate limit for your organization of 50 requests per minute.",
        headers=(("retry-after", "7"), ("anthropic-ratelimit-requests-remaining", "0")),
    ),
    # Anthropic's exhausted-credit answer is a 400, not a 429: a relay must recognise it by its message.
    "insufficient_quota": lambda: MockHTTPError(
        400,
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
        "purchase credits.",
    ),
    "http500": lambda: MockHTTPError(500, f"Internal server error {LEAK_DETAIL}"),
    "http502": lambda: MockHTTPError(502, f"Bad gateway {LEAK_DETAIL}"),
    "http503": lambda: MockHTTPError(503, f"Service unavailable {LEAK_DETAIL}"),
    "http529": lambda: MockHTTPError(529, f"Overloaded {LEAK_DETAIL}"),
}


def mid_stream_error_event(dialect: str = "openai") -> bytes:
    """The SSE event `sse_error_after=K` sends: a top-level `error` object (the SDK raises `APIError` on it);
    for Anthropic an `event: error` with `overloaded_error`, the mid-stream error Anthropic actually sends."""
    if dialect == "anthropic":
        error = anthropic_error_body("overloaded_error", f"Overloaded {LEAK_DETAIL}")
        return b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"
    body = error_body(f"The server had an error while processing your request. {LEAK_DETAIL}", "server_error")
    body["error"]["code"] = "server_error"
    return b"data: " + orjson.dumps(body) + b"\n\n"
