"""The rest of the OpenAI surface, each endpoint through the one pipeline (``relay.pipeline``):
Responses, legacy completions, embeddings, moderations, speech, transcriptions and translations —
with and without the ``/v1`` prefix — plus the stored-response routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.settings import Settings
from tollway.upstream.client import UpstreamClient

from relay.endpoints.audio import Speech
from relay.endpoints.audio_transcriptions import Transcriptions
from relay.endpoints.completions import Completions
from relay.endpoints.embeddings import Embeddings
from relay.endpoints.moderations import Moderations
from relay.endpoints.responses import ResponsesCreate
from relay.pipeline import Pipeline
from relay.routes.responses import stored_response_routes

__all__ = ["SUFFIXES", "openai_surface_routes"]

#: Paths the relay's path normaliser maps to their ``/v1`` route when a client's base URL adds a prefix.
SUFFIXES = (
    "/responses",
    "/completions",
    "/embeddings",
    "/moderations",
    "/audio/speech",
    "/audio/transcriptions",
    "/audio/translations",
)


def openai_surface_routes(pipeline: Pipeline, settings: Settings, upstream: UpstreamClient) -> list[BaseRoute]:
    completions, embeddings, moderations = Completions(), Embeddings(), Moderations()

    async def responses(request: Request) -> Response:
        svc = await pipeline.services()
        catalog = await pipeline.catalog(svc)
        # A spec per request: it carries what the answer teaches it (the response id, the image tool usage).
        return await pipeline.handle(request, ResponsesCreate(svc.responses, settings, catalog.price))

    async def completion(request: Request) -> Response:
        return await pipeline.handle(request, completions)

    async def embedding(request: Request) -> Response:
        return await pipeline.handle(request, embeddings)

    async def moderation(request: Request) -> Response:
        return await pipeline.handle(request, moderations)

    async def speech(request: Request) -> Response:
        return await pipeline.handle(request, Speech())

    async def transcription(request: Request) -> Response:
        return await pipeline.handle(request, Transcriptions("transcriptions", settings))

    async def translation(request: Request) -> Response:
        return await pipeline.handle(request, Transcriptions("translations", settings))

    routes: list[BaseRoute] = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/responses", responses, methods=["POST"]),
            Route(f"{prefix}/completions", completion, methods=["POST"]),
            Route(f"{prefix}/embeddings", embedding, methods=["POST"]),
            Route(f"{prefix}/moderations", moderation, methods=["POST"]),
            Route(f"{prefix}/audio/speech", speech, methods=["POST"]),
            Route(f"{prefix}/audio/transcriptions", transcription, methods=["POST"]),
            Route(f"{prefix}/audio/translations", translation, methods=["POST"]),
        ]
    return [*routes, *stored_response_routes(pipeline, upstream)]
