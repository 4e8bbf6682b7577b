"""Relayed bodies after the upstream answered: SSE streams and byte bodies, each settled exactly once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpx2
from tollway.metering.stream import ByteMeter, StreamBroke, StreamMeter
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord
from tollway.sse import SSEError, SSEParser
from tollway.upstream.client import UpstreamResponse
from tollway.upstream.failures import scrub

from relay.calls import Exchange

__all__ = ["ByteSession", "StreamSession"]

log = logging.getLogger("tollway.relay")

_BROKEN_MESSAGE = "The upstream stream broke off; nothing was charged for this request."

#: How long, and how much, the upstream's body is read after its stream ended (see :func:`_read_rest`).
_REST_S = 0.1
_REST_BYTES = 64 * 1024


async def _read_rest(chunks: AsyncIterator[bytes]) -> None:
    """Read what the upstream sends after its stream's end (``[DONE]``, ``message_stop``) — never
    forwarded, never metered — until its body ends, for at most ``_REST_S`` and ``_REST_BYTES``.

    The body's last bytes (the chunked terminator) are normally already on the wire. A body read to
    its end leaves its connection in the pool; one closed before its end closes the connection, and
    then every stream paid for a new upstream connection (connect, setup, close: measured as the
    largest per-stream cost the relay had over a passthrough that reads bodies to their end).
    """
    left = _REST_BYTES
    with anyio.move_on_after(_REST_S):
        try:
            async for rest in chunks:
                left -= len(rest)
                if left < 0:
                    return  # not an ordinary end: the connection is closed, as before
        except httpx2.HTTPError:
            return  # the stream was complete; only the connection is lost


class StreamSession:
    """One relayed stream: forwards events, meters them, and settles once (``exchange.settle``) at the end."""

    def __init__(self, exchange: Exchange, upstream: UpstreamResponse, max_event_bytes: int) -> None:
        self._exchange = exchange
        self._call = exchange.call
        self._upstream = upstream
        self._max_event_bytes = max_event_bytes
        self._meter: StreamMeter = exchange.spec.meter(exchange.prepared)
        self._broken: str | None = None
        self._finished = False
        self._announced = False

    async def _announce(self, usage: Usage) -> None:
        """Once the meter saw the end with usage: the endpoint's ``succeeded`` hook, before the end is sent
        (the caller checks ``done`` and ``usage`` inline: a call per chunk costs more than the check)."""
        self._announced = True
        record = self._call.record(RecordStatus.OK, 200, usage=usage, usage_source="upstream")
        await self._exchange.succeeded(record)

    async def pump(self, emit: Callable[[bytes], Awaitable[None]]) -> None:
        # The per-chunk path: every name it uses is bound once, and a chunk of one event (what upstreams
        # write) is metered without a list or a join.
        parser = SSEParser(self._max_event_bytes)
        feed = parser.feed
        meter = self._meter
        on_event = meter.on_event
        call = self._call
        chunks = self._upstream.aiter_raw()
        try:
            async for chunk in chunks:
                events = feed(chunk)
                if not events:
                    continue  # an event still incomplete: nothing metered, nothing to send
                if len(events) == 1:
                    out = on_event(events[0])
                else:
                    # Every event is metered before anything is sent: one that breaks the stream
                    # withholds the whole chunk.
                    out = b"".join([b for b in map(on_event, events) if b])
                if meter.done and meter.usage is not None and not self._announced:
                    await self._announce(meter.usage)
                if out:
                    if call.ttft_ms is None:
                        call.ttft_ms = call.elapsed_ms()
                    await emit(out)
                if meter.done:
                    await _read_rest(chunks)
                    return
            tail = [b for b in map(on_event, parser.flush()) if b]
            if meter.done and meter.usage is not None and not self._announced:
                await self._announce(meter.usage)
            if tail:
                await emit(b"".join(tail))
            if not meter.done:
                if meter.usage is None:
                    raise StreamBroke("the upstream ended the stream early")
                await emit(meter.tail())
        except (StreamBroke, SSEError, httpx2.HTTPError) as exc:
            self._broken = str(exc) or type(exc).__name__
            upstream_error = exc.error if isinstance(exc, StreamBroke) else None
            log.warning("stream %s broke: %s", self._call.request_id, self._broken)
            if upstream_error and upstream_error.get("message"):
                # An upstream's message may name its URLs or keys: scrubbed before any client sees it.
                upstream_error = {**upstream_error, "message": scrub(str(upstream_error["message"]))}
            await emit(meter.broken(_BROKEN_MESSAGE, upstream_error))

    async def finish(self, client_closed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            await self._upstream.aclose()
        except Exception:
            log.debug("closing upstream of %s failed", self._call.request_id)
        await self._exchange.settle_metered(lambda: self._bill(client_closed))

    def _bill(self, client_closed: bool) -> tuple[UsageRecord, int]:
        """The record and charge of the stream as it ended."""
        exchange, meter, call = self._exchange, self._meter, self._call
        usage = meter.usage
        source = "upstream"
        if usage is None:
            usage, source = exchange.spec.estimate(exchange.prepared, meter.produced_output), "estimated"
        if self._broken is not None and not client_closed:
            # A broken upstream stream costs the customer nothing.
            record = call.record(
                RecordStatus.ERROR, 502, usage=usage, usage_source=source, error_code="upstream_stream_broken"
            )
            cost = 0
        elif client_closed:
            record = call.record(RecordStatus.CLIENT_CLOSED, 200, usage=usage, usage_source=source)
            cost = exchange.charge(usage)
        elif not meter.done and meter.usage is None:
            record = call.record(RecordStatus.ERROR, 200, usage=usage, usage_source=source, error_code="max_duration")
            cost = exchange.charge(usage)
        else:
            record = call.record(RecordStatus.OK, 200, usage=usage, usage_source=source)
            cost = exchange.charge(usage)
        return record, cost


class ByteSession:
    """One relayed byte body (audio, large JSON): forwarded chunk by chunk, metered, settled once."""

    def __init__(self, exchange: Exchange, upstream: UpstreamResponse, meter: ByteMeter) -> None:
        self._exchange = exchange
        self._call = exchange.call
        self._upstream = upstream
        self._meter = meter
        self._complete = False
        self._broken = False
        self._finished = False

    async def pump(self, emit: Callable[[bytes], Awaitable[None]]) -> None:
        try:
            async for chunk in self._upstream.aiter_raw():
                self._meter.feed(chunk)
                if self._call.ttft_ms is None:
                    self._call.ttft_ms = self._call.elapsed_ms()
                await emit(chunk)
            self._complete = True
        except httpx2.HTTPError:
            # Bytes already left; the body is cut short for the client, who is not charged for it.
            self._broken = True
            log.warning("byte body of %s broke off", self._call.request_id)

    async def finish(self, client_closed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            await self._upstream.aclose()
        except Exception:
            log.debug("closing upstream of %s failed", self._call.request_id)
        await self._exchange.settle_metered(lambda: self._bill(client_closed))

    def _bill(self, client_closed: bool) -> tuple[UsageRecord, int]:
        """The record and charge of the body as it ended."""
        call = self._call
        usage = self._meter.usage(self._complete)
        if self._broken or (usage is None and not client_closed):
            record = call.record(RecordStatus.ERROR, 502, usage=usage, error_code="upstream_body_broken")
            cost = 0
        else:
            status = RecordStatus.CLIENT_CLOSED if client_closed and not self._complete else RecordStatus.OK
            usage = usage or Usage()
            # A meter that measures what it forwards (e.g. speech audio) says its usage is tollway's own.
            source = self._meter.usage_source or ("upstream" if self._complete else "estimated")
            record = call.record(status, 200, usage=usage, usage_source=source)
            cost = self._exchange.charge(usage)
        return record, cost
