"""The relay's one mechanism: route → auth → reserve → upstream → settle.

Every billable endpoint goes through :meth:`Pipeline.handle` with its :class:`EndpointSpec`. Money
rules enforced here, in order:

1. authenticate (401 has no account, so no record);
2. validate, price, route — a refusal after authentication writes the request's one usage record;
3. reserve the worst case in one atomic write (clamping the output limit to what the money pays for);
4. try channels in priority/weight order until one answers, never after a byte reached the client;
5. settle at the real cost (nothing for a failed call), then write the history and close the hold.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import httpx2
import orjson
from starlette.requests import Request
from starlette.responses import Response
from tollway.auth import KeyContext
from tollway.billing import Reservation
from tollway.bridge import run_bridged
from tollway.config.catalog import Catalog
from tollway.config.model import Channel, ChannelStatus
from tollway.dynamo_wire import WireClient
from tollway.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NoAvailableChannel,
    NotFound,
    PermissionDenied,
    TollwayError,
    UpstreamFailed,
    UpstreamTimeout,
)
from tollway.pricing.markup import price_basis
from tollway.records import RecordStatus, UsageRecord
from tollway.routing import order_channels
from tollway.services import LazyServices, Services
from tollway.settings import Settings
from tollway.upstream.client import UpstreamClient, UpstreamResponse
from tollway.upstream.failures import Failure, FailureKind, classify_response, classify_transport_error

from relay.asgi import read_body, request_id_of
from relay.calls import Billing, Call, Exchange, Settle, reserve_fresh
from relay.endpoints.base import EndpointSpec, Prepared, RequestBody
from relay.multipart import parse_multipart
from relay.responses import CompletedResponse, RelayStream
from relay.sessions import ByteSession, StreamSession

__all__ = ["Pipeline", "bearer_secret"]

log = logging.getLogger("tollway.relay")
T = TypeVar("T")

_ERROR_HEAD_BYTES = 64 * 1024
_MAX_RESPONSE_BYTES = 256 * 1024 * 1024


def bearer_secret(request: Request) -> str | None:
    """The customer's key from ``Authorization: Bearer`` or ``x-api-key``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


class Pipeline:
    def __init__(self, services: LazyServices, upstream: UpstreamClient, settings: Settings) -> None:
        self._lazy = services
        self._upstream = upstream
        self._settings = settings

    # ---- small helpers ---------------------------------------------------------------------------

    async def services(self) -> Services:
        ready = self._lazy.ready
        return ready if ready is not None else await anyio.to_thread.run_sync(self._lazy.get)

    @staticmethod
    async def blocking(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    async def store(self, svc: Services, fn: Callable[..., T], *args: Any) -> T:
        """One of the hot path's store movements (reserve, settle, refusal record): the synchronous
        ledger code run on the event loop's thread, its DynamoDB calls awaited on the loop
        (:mod:`tollway.bridge`), when the store client is the wire client — the thread hop and the
        blocking HTTP client were a large share of the relay's CPU per request. With boto3
        (``TOLLWAY_STORE_CLIENT=boto3``) or the in-memory stores, a worker thread as before.

        Shielded from cancellation, as the worker thread was (anyio's ``run_sync`` waits for its
        thread): a money movement, once started, runs to its end (bounded by the client's timeouts and
        the ledger's retries) instead of stopping between a write and the reading of its answer.
        """
        if isinstance(getattr(svc.ledger, "client", None), WireClient):
            with anyio.CancelScope(shield=True):
                return await run_bridged(fn, *args)
        return await self.blocking(fn, *args)

    async def catalog(self, svc: Services) -> Catalog:
        fresh = svc.catalog.fresh()
        return fresh if fresh is not None else await self.blocking(svc.catalog.get)

    async def authenticate(self, request: Request, svc: Services) -> KeyContext:
        secret = bearer_secret(request)
        if not secret:
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer sk-…'.")
        hit, context = svc.keys.cached(secret)
        if not hit:
            context = await self.blocking(svc.keys.lookup, secret)
        if context is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return context

    # ---- the mechanism ---------------------------------------------------------------------------

    async def handle(self, request: Request, spec: EndpointSpec) -> Response:
        svc = await self.services()
        context = await self.authenticate(request, svc)
        state = request.scope["state"]
        call = Call(
            request_id=request_id_of(request.scope),
            started=state.get("started", time.monotonic()),
            created_at=svc.clock_ms(),
            endpoint=spec.name,
            context=context,
        )
        try:
            prepared, billing, channels, reservation = await self._admit(request, spec, svc, call)
        except TollwayError as error:
            if not isinstance(error, AuthenticationFailed):
                refusal = call.record(RecordStatus.REFUSED, error.status, error_code=error.code)
                await self.store(svc, svc.biller.record_refusal, refusal)
            raise
        ex = Exchange(spec, svc, call, prepared, billing, channels, reservation, self._settler(svc, billing))
        try:
            mode = spec.response_mode(prepared)
            if mode == "sse":
                return await self._stream(ex)
            if mode == "bytes":
                return await self._passthrough(ex)
            return await self._complete(ex)
        except TollwayError as error:
            await ex.settle(0, call.record(RecordStatus.ERROR, error.status, error_code=error.code))
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await ex.settle(0, call.record(RecordStatus.ERROR, 500, error_code="internal_error"))
            raise

    async def _admit(
        self, request: Request, spec: EndpointSpec, svc: Services, call: Call
    ) -> tuple[Prepared, Billing, list[Channel], Reservation]:
        context = call.context
        key = context.key
        if key.expired(time.time()):
            raise PermissionDenied("This API key has expired.", code="key_expired")
        if not key.allows_ip(request.client.host if request.client else None):
            raise PermissionDenied("This API key may not be used from this IP address.", code="ip_not_allowed")
        raw = await read_body(request, self._settings.max_request_bytes)
        prepared = spec.prepare(self._request_body(spec, raw, request.headers.get("content-type", "")))
        call.model, call.stream, call.format = prepared.model, prepared.stream, prepared.format
        if not key.allows_model(prepared.model):
            raise PermissionDenied(f"This API key may not use the model '{prepared.model}'.", code="model_not_allowed")
        catalog = await self.catalog(svc)
        price = catalog.price(prepared.model)
        priced_as = spec.priced_as or spec.name
        if price is None or (price.endpoints is not None and priced_as not in price.endpoints):
            raise NotFound(
                f"The model '{prepared.model}' does not exist or is not available on this endpoint.",
                code="model_not_found",
                param="model",
            )
        prepared.reasoning = price.reasoning
        if spec.resolves:
            # Endpoint state that bounds or routes the request (read off the event loop).
            await self.blocking(spec.resolve, prepared, context)
        channels = order_channels(catalog.channels_for(prepared.model, context.group), prepared.affinity)
        if not channels:
            raise NoAvailableChannel(f"No channel currently serves '{prepared.model}'; try again later.")
        if prepared.channel_ids is not None:
            channels = [c for c in channels if c.channel_id in prepared.channel_ids]
            if not channels:
                raise NoAvailableChannel(
                    "The channel that holds the state this request refers to cannot serve it now; try again later."
                )
        ratio = catalog.group_ratio(context.group)
        call.price_basis = price_basis(catalog.markup(prepared.model), ratio)
        budget = spec.budget(prepared, price, ratio)
        limit: int | None = None
        minimal = 0
        if prepared.has_output_limit:
            limit = prepared.requested_output
            model_max = price.max_output_tokens
            if limit is None:
                limit = model_max or self._settings.default_max_output_tokens
            elif model_max is not None:
                limit = min(limit, model_max)
            s = self._settings
            minimal = min(s.min_answer_tokens_reasoning if price.reasoning else s.min_answer_tokens, limit)
        reservation = await self._reserve(svc, call, budget, limit, minimal)
        call.hold = reservation.hold
        return prepared, Billing(price=price, ratio=ratio, hold=reservation.hold), channels, reservation

    @staticmethod
    def _request_body(spec: EndpointSpec, raw: bytes, content_type: str) -> RequestBody:
        if spec.body_kind == "multipart":
            return RequestBody(raw=raw, content_type=content_type, form=parse_multipart(raw, content_type))
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from exc
        return RequestBody(raw=raw, content_type=content_type, json=data)

    async def _reserve(self, svc: Services, call: Call, budget: Any, limit: int | None, minimal: int) -> Reservation:
        reservation, call.context = await self.store(
            svc,
            functools.partial(
                reserve_fresh,
                svc,
                call.context,
                hold_id=call.request_id,
                budget=budget,
                output_limit=limit,
                min_output=minimal,
                now_ms=call.created_at,
                endpoint=call.endpoint,
                model=call.model,
            ),
        )
        return reservation

    # ---- upstream --------------------------------------------------------------------------------

    async def _open(self, ex: Exchange) -> UpstreamResponse:
        """Try channels in order; the first 2xx wins. Raises the client-facing error of the last failure."""
        spec, svc, call, prepared = ex.spec, ex.svc, ex.call, ex.prepared
        output_limit = ex.reservation.output_limit
        failures: list[Failure] = []
        for channel in ex.channels[: self._settings.max_channel_attempts]:
            call.attempts += 1
            call.channel = channel
            hit, secret = svc.channel_secrets.cached(channel.channel_id)
            if not hit:
                secret = await self.blocking(svc.channel_secrets.get, channel.channel_id)
            upstream_model = channel.upstream_model(prepared.model)
            body = spec.upstream_body(prepared, output_limit, upstream_model)
            try:
                response = await self._upstream.open(
                    channel, spec.upstream_path, upstream_model, secret, body.content, body.content_type, body.headers
                )
            except httpx2.TimeoutException:
                failures.append(classify_transport_error(timeout=True))
                continue
            except httpx2.TransportError:
                failures.append(classify_transport_error(timeout=False))
                continue
            if 200 <= response.status < 300:
                return response
            try:
                head = await response.read_limited(_ERROR_HEAD_BYTES)
            except httpx2.HTTPError:
                head = b""
            finally:
                await response.aclose()
            failure = classify_response(response.status, head, response.headers)
            log.warning("channel %s answered %s for %s", channel.channel_id, response.status, call.request_id)
            if failure.evict_secret:
                svc.channel_secrets.evict(channel.channel_id)
            if failure.disable_reason:
                await self._auto_disable(svc, channel, failure.disable_reason)
            if failure.kind is FailureKind.TERMINAL:
                raise failure.error
            failures.append(failure)
        if failures and all(f.rate_limited for f in failures):
            raise failures[-1].error
        raise failures[-1].error if failures else NoAvailableChannel("No channel could take the request.")

    async def _auto_disable(self, svc: Services, channel: Channel, reason: str) -> None:
        changed = await self.blocking(
            lambda: svc.config.set_channel_status(
                channel.channel_id, ChannelStatus.AUTO_DISABLED, reason, only_if=ChannelStatus.ENABLED
            )
        )
        if changed:
            log.warning("channel %s disabled automatically: %s", channel.channel_id, reason)
            svc.catalog.invalidate()

    # ---- non-streaming ---------------------------------------------------------------------------

    async def _complete(self, ex: Exchange) -> Response:
        spec, call, prepared = ex.spec, ex.call, ex.prepared
        answer = spec.local_answer(prepared)
        try:
            with anyio.fail_after(self._settings.non_stream_deadline_s):
                if answer is not None:
                    body = answer  # an answer tollway gives itself (e.g. an estimated token count)
                else:
                    response = await self._open(ex)
                    try:
                        body = await response.read_limited(_MAX_RESPONSE_BYTES)
                    finally:
                        await response.aclose()
        except TimeoutError:
            raise UpstreamTimeout(
                "The upstream did not answer within the gateway's limit; use stream=true for long generations."
            ) from None
        except httpx2.HTTPError:
            raise UpstreamFailed("The upstream's answer broke off; nothing was charged.") from None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamFailed("The upstream sent a malformed answer; nothing was charged.") from None
        if not isinstance(parsed, dict):
            raise UpstreamFailed("The upstream sent a malformed answer; nothing was charged.")
        usage = spec.usage_of(parsed)
        source = "upstream"
        if usage is None:
            usage, source = spec.estimate(prepared, spec.output_of(parsed)), "estimated"
        call.ttft_ms = call.elapsed_ms()
        cost = ex.charge(usage)
        record = call.record(RecordStatus.OK, 200, usage=usage, usage_source=source)
        if self._settings.settle_after_answer:
            # The hold already covers the charge (an overrun takes what the balance holds): the client
            # need not wait for the settle. It runs shielded once the body is out, before the response
            # ends; a settle the store refuses is left, with its due charge, to maintenance.
            await ex.succeeded(record)
            body, media_type = spec.render(prepared, parsed, body)
            return CompletedResponse(
                body, 200, lambda: ex.settle_metered(lambda: (record, cost)), media_type=media_type
            )
        # On Lambda the environment may freeze once the answer is sent: settle first.
        await ex.settle(cost, record)
        await ex.succeeded(record)
        body, media_type = spec.render(prepared, parsed, body)
        return CompletedResponse(body, 200, _nothing, media_type=media_type)

    def _settler(self, svc: Services, billing: Billing) -> Settle:
        """The request's one settle: the hold at ``cost`` with its record, closed at once."""

        async def settle(cost: int, record: UsageRecord) -> None:
            def run() -> None:
                movement = svc.biller.settle(billing.hold, cost, record, now_ms=svc.clock_ms())
                if movement is not None:
                    svc.biller.finish(movement)

            await self.store(svc, run)

        return settle

    # ---- streaming -------------------------------------------------------------------------------

    async def _stream(self, ex: Exchange) -> Response:
        response = await self._open(ex)
        session = StreamSession(ex, response, self._settings.max_sse_event_bytes)
        return RelayStream(session, self._settings.heartbeat_s, self._settings.max_request_duration_s)

    async def _passthrough(self, ex: Exchange) -> Response:
        try:
            with anyio.fail_after(self._settings.non_stream_deadline_s):
                response = await self._open(ex)
        except TimeoutError:
            raise UpstreamTimeout("The upstream did not start answering within the gateway's limit.") from None
        meter = ex.spec.byte_meter(ex.prepared)
        session = ByteSession(ex, response, meter)
        headers = [(b"content-type", response.headers.get("content-type", "application/octet-stream").encode())]
        return RelayStream(
            session,
            None,
            self._settings.max_request_duration_s,
            drain_s=self._settings.max_request_duration_s if meter.drain_on_disconnect else 0.25,
            headers=headers,
        )


async def _nothing() -> None:
    """Nothing left after the body: the settle ran before it."""
