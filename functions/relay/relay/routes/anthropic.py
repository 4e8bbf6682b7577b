"""Anthropic's surface: Messages and count_tokens (through the pipeline), the probes and telemetry
Claude Code sends to its base URL, and the model list in Anthropic's shape.

Every route works with and without ``/v1`` (and under ``/v1/v1``, what a base URL ending in ``/v1``
produces); query strings such as ``?beta=true`` are accepted and not forwarded.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.anthropic.models import model_info, model_page
from tollway.auth import KeyContext
from tollway.config.catalog import Catalog
from tollway.errors import InvalidRequest, NotFound

from relay.endpoints.messages import CountTokens, Messages
from relay.errors import wants_anthropic_shape
from relay.pipeline import Pipeline

__all__ = ["anthropic_model", "anthropic_models", "anthropic_routes", "wants_anthropic_shape"]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def anthropic_models(request: Request, catalog: Catalog, names: list[str]) -> Response:
    params = request.query_params
    raw = params.get("limit") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequest("'limit' must be an integer between 1 and 1000.", param="limit")
    models = [model_info(n, catalog.price(n)) for n in names]
    return _json(model_page(models, limit=int(raw), after_id=params.get("after_id"), before_id=params.get("before_id")))


def anthropic_model(catalog: Catalog, context: KeyContext, name: str) -> Response:
    if name not in catalog.models_for(context.group) or not context.key.allows_model(name):
        raise NotFound(f"model: {name}", code="model_not_found", param="model")
    return _json(model_info(name, catalog.price(name)))


def anthropic_routes(pipeline: Pipeline) -> list[BaseRoute]:
    async def messages(request: Request) -> Response:
        catalog = await pipeline.catalog(await pipeline.services())
        return await pipeline.handle(request, Messages(catalog, request.headers))

    async def count_tokens(request: Request) -> Response:
        catalog = await pipeline.catalog(await pipeline.services())
        return await pipeline.handle(request, CountTokens(catalog, request.headers))

    async def probe(request: Request) -> Response:
        return Response(b"", status_code=200)  # GET /api/hello; HEAD probes are answered by ProbeAnswer

    async def telemetry(request: Request) -> Response:
        # Claude Code's event logging: accepted and dropped, unread, unbilled, unlogged.
        return Response(b"", status_code=204)

    routes: list[BaseRoute] = [
        Route("/api/hello", probe, methods=["GET", "HEAD"]),
        Route("/api/event_logging/batch", telemetry, methods=["POST"]),
    ]
    for prefix in ("/v1", "", "/v1/v1"):
        routes += [
            Route(f"{prefix}/messages", messages, methods=["POST"]),
            Route(f"{prefix}/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    return routes
