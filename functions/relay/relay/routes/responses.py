"""Stored Responses answers: ``GET``/``DELETE /v1/responses/{id}``, ``GET …/input_items``,
``POST …/cancel``, and ``POST /v1/responses/input_tokens`` (token counting) — all unbilled reads.

Each goes to the channel that created the response (``tollway.stored_responses``), and only for the
account that created it: every customer of a channel shares its upstream key, so without that check one
customer could read another's conversation. ``GET ?stream=true`` replays background responses, which
this relay refuses, so it is refused too; ``POST /v1/responses/compact`` is not relayed (clear 404).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx2
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.config.model import Channel
from tollway.errors import InvalidRequest, NoAvailableChannel, NotFound, UpstreamFailed, UpstreamTimeout
from tollway.routing import order_channels
from tollway.services import Services
from tollway.stored_responses import StoredResponse
from tollway.upstream.client import UpstreamClient
from tollway.upstream.failures import classify_response

from relay.asgi import read_body
from relay.pipeline import Pipeline
from relay.routes.access import customer_context

__all__ = ["stored_response_routes"]

_COUNT_BODY_LIMIT = 4_000_000


class StoredResponses:
    def __init__(self, pipeline: Pipeline, upstream: UpstreamClient) -> None:
        self.pipeline = pipeline
        self.upstream = upstream

    async def _owned(self, request: Request) -> tuple[Services, StoredResponse, Channel]:
        context = await customer_context(self.pipeline, request)
        svc = await self.pipeline.services()
        response_id = request.path_params["response_id"]
        item = await self.pipeline.blocking(svc.responses.get, context.account.account_id, response_id)
        if item is None:
            raise NotFound(f"Response with id '{response_id}' not found.", code="response_not_found")
        catalog = await self.pipeline.catalog(svc)
        channel = next((c for c in catalog.channels if c.channel_id == item.channel_id), None)
        if channel is None:
            raise NoAvailableChannel("The channel that holds this response is no longer configured.")
        return svc, item, channel

    async def _call(
        self, svc: Services, channel: Channel, method: str, path: str, body: bytes | None = None, model: str = ""
    ) -> tuple[int, bytes]:
        hit, secret = svc.channel_secrets.cached(channel.channel_id)
        if not hit:
            secret = await self.pipeline.blocking(svc.channel_secrets.get, channel.channel_id)
        try:
            status, headers, data = await self.upstream.call(
                method, channel, path, secret, body=body, upstream_model=model
            )
        except httpx2.TimeoutException:
            raise UpstreamTimeout("The upstream service timed out.") from None
        except httpx2.TransportError:
            raise UpstreamFailed("The upstream service could not be reached.") from None
        if not 200 <= status < 300:
            raise classify_response(status, data[:65536], headers).error
        return status, data

    @staticmethod
    def _query(request: Request) -> str:
        pairs = [(k, v) for k, v in request.query_params.multi_items()]
        return "?" + urlencode(pairs) if pairs else ""

    async def get(self, request: Request) -> Response:
        if request.query_params.get("stream") in ("true", "1", "True"):
            raise InvalidRequest(
                "Streaming a stored response is for background responses, which this relay does not support.",
                param="stream",
                code="unsupported_parameter",
            )
        svc, item, channel = await self._owned(request)
        path = f"/responses/{quote(item.response_id, safe='')}{self._query(request)}"
        status, data = await self._call(svc, channel, "GET", path)
        return Response(data, status_code=status, media_type="application/json")

    async def input_items(self, request: Request) -> Response:
        svc, item, channel = await self._owned(request)
        path = f"/responses/{quote(item.response_id, safe='')}/input_items{self._query(request)}"
        status, data = await self._call(svc, channel, "GET", path)
        return Response(data, status_code=status, media_type="application/json")

    async def delete(self, request: Request) -> Response:
        svc, item, channel = await self._owned(request)
        status, data = await self._call(svc, channel, "DELETE", f"/responses/{quote(item.response_id, safe='')}")
        await self.pipeline.blocking(svc.responses.delete, item.account_id, item.response_id)
        return Response(data, status_code=status, media_type="application/json")

    async def cancel(self, request: Request) -> Response:
        svc, item, channel = await self._owned(request)
        status, data = await self._call(svc, channel, "POST", f"/responses/{quote(item.response_id, safe='')}/cancel")
        return Response(data, status_code=status, media_type="application/json")

    async def input_tokens(self, request: Request) -> Response:
        """Token counting: free upstream, so unbilled here; routed like a create (continuations pinned)."""
        context = await customer_context(self.pipeline, request)
        svc = await self.pipeline.services()
        raw = await read_body(request, _COUNT_BODY_LIMIT)
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from exc
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or not model:
            raise InvalidRequest("'model' is required and must be a string.", param="model", code="missing_model")
        catalog = await self.pipeline.catalog(svc)
        if catalog.price(model) is None or not context.key.allows_model(model):
            raise NotFound(
                f"The model '{model}' does not exist or you do not have access to it.", code="model_not_found"
            )
        channels = order_channels(catalog.channels_for(model, context.group))
        previous = data.get("previous_response_id")
        if isinstance(previous, str) and previous:
            item = await self.pipeline.blocking(svc.responses.get, context.account.account_id, previous)
            if item is None:
                raise NotFound(f"Previous response with id '{previous}' not found.", param="previous_response_id")
            channels = [c for c in channels if c.channel_id == item.channel_id]
        if not channels:
            raise NoAvailableChannel(f"No channel currently serves '{model}'; try again later.")
        channel = channels[0]
        upstream_model = channel.upstream_model(model)
        body = orjson.dumps({**data, "model": upstream_model})
        status, out = await self._call(svc, channel, "POST", "/responses/input_tokens", body, upstream_model)
        return Response(out, status_code=status, media_type="application/json")

    async def compact(self, request: Request) -> Response:
        raise NotFound("POST /v1/responses/compact is not supported by this relay.", code="unsupported_endpoint")


def stored_response_routes(pipeline: Pipeline, upstream: UpstreamClient) -> list[BaseRoute]:
    views = StoredResponses(pipeline, upstream)
    routes: list[BaseRoute] = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/responses/input_tokens", views.input_tokens, methods=["POST"]),
            Route(f"{prefix}/responses/compact", views.compact, methods=["POST"]),
            Route(f"{prefix}/responses/{{response_id}}", views.get, methods=["GET"]),
            Route(f"{prefix}/responses/{{response_id}}", views.delete, methods=["DELETE"]),
            Route(f"{prefix}/responses/{{response_id}}/input_items", views.input_items, methods=["GET"]),
            Route(f"{prefix}/responses/{{response_id}}/cancel", views.cancel, methods=["POST"]),
        ]
    return routes
