"""The Anthropic wire format of the error tree: ``{"type":"error","error":{"type","message"},"request_id"}``.

The HTTP status stays the error's status class; the ``error.type`` is Anthropic's name for its class (the
most specific class listed wins, :data:`ANTHROPIC_TYPES`); a rate limit sends its ``retry-after``. An
empty balance is 402 ``billing_error`` with ``x-should-retry: false``: the SDKs and Claude Code retry
429s and 5xx many times, and must not retry a request only a top-up can fix. An upstream's own 4xx
keeps its type when it is one of Anthropic's; otherwise its status names it (:data:`_BY_STATUS`).
"""

from __future__ import annotations

from typing import Any

from tollway.errors import (
    AuthenticationFailed,
    ClientError,
    Conflict,
    InsufficientQuota,
    NotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    TollwayError,
    UpstreamRejected,
    UpstreamTimeout,
    wire_row,
)

__all__ = ["ANTHROPIC_ERROR_TYPES", "ANTHROPIC_TYPES", "anthropic_error", "anthropic_type"]

#: Anthropic's ``error.type`` of each class of the tree (the most specific class listed wins).
ANTHROPIC_TYPES: dict[type[TollwayError], str] = {
    TollwayError: "api_error",  # 500, 502, 503 (no channel, store)
    ClientError: "invalid_request_error",  # every 4xx not listed below
    AuthenticationFailed: "authentication_error",
    InsufficientQuota: "billing_error",
    PermissionDenied: "permission_error",
    NotFound: "not_found_error",
    Conflict: "conflict_error",
    RequestTooLarge: "request_too_large",
    RateLimited: "rate_limit_error",
    UpstreamTimeout: "timeout_error",
    Overloaded: "overloaded_error",
}

#: An upstream's 4xx whose type is not Anthropic's is named by its status.
_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
ANTHROPIC_ERROR_TYPES = frozenset({*ANTHROPIC_TYPES.values(), *_BY_STATUS.values()})


def anthropic_type(error: TollwayError) -> str:
    """Anthropic's ``error.type`` for ``error``."""
    if isinstance(error, UpstreamRejected):
        if error.upstream_type in ANTHROPIC_ERROR_TYPES:
            return error.upstream_type  # an Anthropic upstream's own type, passed through
        return _BY_STATUS.get(error.status, "invalid_request_error")
    return wire_row(ANTHROPIC_TYPES, error)


def anthropic_error(error: TollwayError, request_id: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) of ``error`` for an Anthropic-format client."""
    etype = anthropic_type(error)
    body: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": error.message}}
    if request_id is not None:
        body["request_id"] = request_id
    headers = {"retry-after": error.retry_after} if isinstance(error, RateLimited) and error.retry_after else {}
    if etype == "billing_error":
        headers["x-should-retry"] = "false"  # only a top-up helps: the SDKs must not retry
    return error.status, body, headers
