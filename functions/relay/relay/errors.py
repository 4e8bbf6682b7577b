"""The one place where errors become HTTP responses (OpenAI's error shape — Anthropic's for Anthropic-format
requests — no internals)."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from tollway.anthropic.errors import anthropic_error
from tollway.errors import ClientError, NotFound, TollwayError

from relay.asgi import request_id_of

__all__ = ["error_response", "http_exception_handler", "tollway_error_handler", "unexpected_error_handler"]

log = logging.getLogger("tollway.relay")


def error_response(error: TollwayError, request_id: str | None = None, request: Request | None = None) -> Response:
    """The error in OpenAI's shape, or in Anthropic's for an Anthropic-format request."""
    if request is not None and wants_anthropic_shape(request):
        status, body, headers = anthropic_error(error, request_id or request_id_of(request.scope))
    else:
        status, body, headers = error.status, error.to_body(), dict(error.headers)
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
