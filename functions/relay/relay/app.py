"""The relay's ASGI app. ``create_app`` is a pure factory (no I/O); uvicorn calls ``app_from_env``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.errors import NotFound, TollwayError
from tollway.services import LazyServices, Services
from tollway.settings import Settings, get_settings
from tollway.upstream.client import UpstreamClient

from relay.asgi import ApiCors, PathNormalizer, ProbeAnswer, RelayApp, RequestIdMiddleware
from relay.console import console_routes
from relay.endpoints.chat import ChatCompletions
from relay.endpoints.images import image_routes
from relay.endpoints.messages import ChatOrClaude
from relay.errors import http_exception_handler, tollway_error_handler, unexpected_error_handler
from relay.mj import mj_routes
from relay.pipeline import Pipeline
from relay.routes.anthropic import anthropic_models, anthropic_routes
from relay.routes.customer import customer_routes
from relay.routes.openai_surface import SUFFIXES as SURFACE_SUFFIXES
from relay.routes.openai_surface import openai_surface_routes
from relay.routes.redeem import redeem_routes
from relay.suno import suno_routes

__all__ = ["app_from_env", "create_app", "openai_routes", "with_v1_aliases"]

# Endpoints this relay refuses clearly rather than failing confusingly.
_UNSUPPORTED: tuple[str, ...] = ("files", "batches", "realtime", "uploads", "fine_tuning", "vector_stores")
_UNSUPPORTED += ("assistants", "threads", "conversations", "containers")


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def openai_routes(pipeline: Pipeline) -> list[BaseRoute]:
    """Every OpenAI route, served with and without the ``/v1`` prefix."""
    chat = ChatCompletions()

    async def chat_completions(request: Request) -> Response:
        catalog = await pipeline.catalog(await pipeline.services())
        if any(c.type in ("anthropic", "bedrock") for c in catalog.channels):
            # Some model is Claude-only: a chat request for it is converted (relay.endpoints.messages).
            return await pipeline.handle(request, ChatOrClaude(chat, catalog, request.headers))
        return await pipeline.handle(request, chat)

    async def models(request: Request) -> Response:
        svc = await pipeline.services()
        context = await pipeline.authenticate(request, svc)
        catalog = await pipeline.catalog(svc)
        names = [m for m in catalog.models_for(context.group) if context.key.allows_model(m)]
        if "anthropic-version" in request.headers:
            return anthropic_models(request, catalog, names)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "tollway"} for m in names]
        return _json({"object": "list", "data": data})

    async def unsupported(request: Request) -> Response:
        parts = [p for p in request.url.path.split("/") if p and p != "v1"]
        name = parts[0] if parts else "this"
        raise NotFound(f"The {name} API is not supported by this relay.", code="unsupported_endpoint")

    routes: list[BaseRoute] = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
            Route(f"{prefix}/models", models, methods=["GET"]),
        ]
        for kind in _UNSUPPORTED:
            routes.append(Route(f"{prefix}/{kind}", unsupported, methods=["GET", "POST", "DELETE"]))
            routes.append(Route(f"{prefix}/{kind}/{{rest:path}}", unsupported, methods=["GET", "POST", "DELETE"]))
    return routes


def with_v1_aliases(routes: list[BaseRoute], *, only_aliases: bool = False) -> list[BaseRoute]:
    """``routes`` plus a ``/v1`` twin of every route that lacks one, so that a client whose base URL ends
    in ``/v1`` reaches every customer route (``/v1/api/usage/logs``, ``/v1/api/redeem``, …). Midjourney's
    ``/{prefix}/mj/…`` route already takes any prefix."""
    paths = {(r.path, frozenset(r.methods or ())) for r in routes if isinstance(r, Route)}
    aliases: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, Route) or route.path.startswith("/v1/"):
            continue
        twin = (f"/v1{route.path}", frozenset(route.methods or ()))
        if twin not in paths:
            paths.add(twin)
            aliases.append(Route(twin[0], route.endpoint, methods=sorted(route.methods or ())))
    return aliases if only_aliases else [*routes, *aliases]


def create_app(
    settings: Settings,
    services: LazyServices,
    *,
    upstream: UpstreamClient | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """The relay app (the local stack adds its admin and callback routes through ``extra_routes``)."""
    client = upstream or UpstreamClient(settings)
    pipeline = Pipeline(services, client, settings)

    async def healthz(request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # boto3 calls run in worker threads; give concurrent requests enough of them (docs/benchmark.md,
        # "Concurrency ladder": a thread waits out the store's round trip, it does not burn CPU).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.store_threads
        if settings.gil_switch_interval_ms:
            sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
        try:
            yield
        finally:
            await client.aclose()

    customer = with_v1_aliases(
        [
            *openai_routes(pipeline),
            *image_routes(pipeline, settings),
            *redeem_routes(pipeline),
            *openai_surface_routes(pipeline, settings, client),
            *customer_routes(pipeline),
        ]
    )
    suno = suno_routes(pipeline)  # /suno/submit/…, /suno/fetch (docs/suno.md)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *customer,
        *console_routes(pipeline, settings),  # the customer console: /, /console/… (docs/console.md); a page, no /v1
        # /v1/messages and count_tokens (also under /v1/v1), Claude Code's /api/hello and telemetry
        *with_v1_aliases(anthropic_routes(pipeline)),
        *(extra_routes or []),  # the local stand-ins for API Gateway's admin and callback routes: no alias
        *mj_routes(pipeline),  # after extra_routes: the local stack's /mj/callback/… route comes first
        *with_v1_aliases(suno),
    ]
    known = {r.path for r in routes if isinstance(r, Route)}
    suffixes = {"/chat/completions", "/models", "/images/generations", "/images/edits", "/images/variations"}
    suffixes.update(SURFACE_SUFFIXES)
    app = RelayApp(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ProbeAnswer),  # Claude Code's HEAD / and HEAD /api/hello
            Middleware(
                ApiCors,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["X-Request-Id", "request-id"],
                max_age=600,
            ),
            Middleware(PathNormalizer, known=known, suffixes=suffixes),
        ],
        exception_handlers={
            TollwayError: tollway_error_handler,
            HTTPException: http_exception_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    return app


def app_from_env() -> Starlette:
    """uvicorn's factory (``--factory relay.app:app_from_env``): settings from the environment, stores
    on DynamoDB, everything created lazily on the first request."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("httpx2", "httpx", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per upstream call otherwise
    settings = get_settings()
    return create_app(settings, LazyServices(lambda: Services.on_aws(settings)))
