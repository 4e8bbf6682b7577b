"""The OpenAI wire format of the error tree, and the app's exception handlers: every error a relay route
raises is answered here — in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``, or in
Anthropic's for an Anthropic-format request (``relay.routes.anthropic_errors``). No internals.

The HTTP status is the error's status class and the ``code`` the error's; a rate limit sends its
``retry-after``. What OpenAI's shape adds is the ``type``, by class — the most specific class listed wins
(:data:`OPENAI_TYPES`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from tollway.errors import (
    ClientError,
    InsufficientQuota,
    NotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    TollwayError,
    UpstreamFailed,
    UpstreamRejected,
    wire_row,
)

from relay.asgi import request_id_of
from relay.routes.anthropic_errors import anthropic_error

__all__ = [
    "OPENAI_TYPES",
    "error_response",
    "http_exception_handler",
    "openai_body",
    "openai_error",
    "openai_type",
    "tollway_error_handler",
    "unexpected_error_handler",
    "wants_anthropic_shape",
]

log = logging.getLogger("tollway.relay")

#: The OpenAI ``error.type`` of each class of the tree (the most specific class listed wins).
OPENAI_TYPES: dict[type[TollwayError], str] = {
    TollwayError: "api_error",  # our own failure (500), and the store's (503)
    ClientError: "invalid_request_error",  # every 4xx not listed below (400, 401, 404, 409, 413, …)
    InsufficientQuota: "insufficient_quota",  # 402: OpenAI's own type for an account that cannot pay
    PermissionDenied: "permission_error",
    RateLimited: "rate_limit_error",
    UpstreamFailed: "upstream_error",  # 502, 503 no channel, 504 timeout
    Overloaded: "overloaded_error",  # 529, Anthropic's word: clients back off
}


def openai_type(error: TollwayError) -> str:
    """The ``type`` OpenAI's shape gives ``error`` (an upstream's own 4xx keeps the upstream's type)."""
    if isinstance(error, UpstreamRejected):
        return error.upstream_type
    return wire_row(OPENAI_TYPES, error)


def openai_body(error: TollwayError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``; an upstream's 4xx keeps its own code and extras."""
    if isinstance(error, UpstreamRejected):
        body: dict[str, Any] = {
            "message": error.message,
            "type": error.upstream_type,
            "param": error.param,
            "code": error.upstream_code,
        }
        body.update(error.extra)
        return {"error": body}
    return {"error": {"message": error.message, "type": openai_type(error), "param": error.param, "code": error.code}}


def openai_error(error: TollwayError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of ``error`` for an OpenAI-format client."""
    headers = {"retry-after": error.retry_after} if isinstance(error, RateLimited) and error.retry_after else {}
    return error.status, openai_body(error), headers


def error_response(error: TollwayError, request_id: str | None = None, request: Request | None = None) -> Response:
    """The error in OpenAI's shape, or in Anthropic's for an Anthropic-format request."""
    if request is not None and wants_anthropic_shape(request):
        status, body, headers = anthropic_error(error, request_id or request_id_of(request.scope))
    else:
        status, body, headers = openai_error(error)
    if request_id is not None:
        headers["x-request-id"] = request_id
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def wants_anthropic_shape(request: Request) -> bool:
    """Anthropic's SDKs and Claude Code always send ``anthropic-version``; the Messages paths imply it
    (not OpenAI's ``/threads/{id}/messages``, which is refused in OpenAI's shape)."""
    if "anthropic-version" in request.headers:
        return True
    path = request.url.path.rstrip("/")
    return path.endswith(("/messages", "/messages/count_tokens")) and "/threads/" not in path


async def tollway_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, TollwayError):  # pragma: no cover - registered for TollwayError only
        raise exc
    return error_response(exc, request=request)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    error: TollwayError
    if exc.status_code == 404:
        error = NotFound(f"Unknown route: {request.method} {request.url.path}", code="unknown_route")
    elif exc.status_code == 405:
        error = ClientError(f"Method {request.method} is not allowed here.", code="method_not_allowed", status_code=405)
    else:
        error = ClientError(str(exc.detail), code="http_error", status_code=exc.status_code)
    return error_response(error, request=request)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # Outermost handler: runs outside the request-id middleware, so it adds the header itself.
    rid = request_id_of(request.scope)
    log.exception("unhandled error in %s", rid)
    return error_response(TollwayError("The relay failed unexpectedly; nothing was charged."), rid, request)
