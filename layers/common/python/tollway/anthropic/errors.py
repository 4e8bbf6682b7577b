"""tollway's errors in Anthropic's shape: ``{"type":"error","error":{"type","message"},"request_id"}``.

The HTTP status stays tollway's; the ``error.type`` is Anthropic's name for it. An empty balance is 402
``billing_error`` with ``x-should-retry: false``: the SDKs and Claude Code retry 429s and 5xx many times,
and must not retry a request only a top-up can fix.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import TollwayError, UpstreamRejected

__all__ = ["ANTHROPIC_ERROR_TYPES", "anthropic_error"]

_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ANTHROPIC_ERROR_TYPES = frozenset({*_BY_STATUS.values(), "api_error"})


def anthropic_error(error: TollwayError, request_id: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) of ``error`` for an Anthropic-format client."""
    status = error.status
    etype = _BY_STATUS.get(status, "invalid_request_error" if 400 <= status < 500 else "api_error")
    if isinstance(error, UpstreamRejected) and error.upstream_type in ANTHROPIC_ERROR_TYPES:
        etype = error.upstream_type  # an Anthropic upstream's own type, passed through
    body: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": error.message}}
    if request_id is not None:
        body["request_id"] = request_id
    headers = dict(error.headers)
    if status == 402:
        headers["x-should-retry"] = "false"
    return status, body, headers
