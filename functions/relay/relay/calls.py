"""One request's running facts (its usage record is built from them), what settling it needs, and the
exchange that carries both through a response mode."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anyio
from tollway.auth import KeyContext
from tollway.billing import Reservation
from tollway.config.model import Channel
from tollway.ledger.model import HoldRequest
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord
from tollway.reserve import reserve_fresh
from tollway.services import Services

from relay.endpoints.base import EndpointSpec, Prepared

__all__ = ["Billing", "Call", "Exchange", "Settle", "metering_failed", "reserve_fresh"]

log = logging.getLogger("tollway.relay")

#: Settles a request's hold at ``cost`` micro-USD with its one usage record, then closes the hold.
Settle = Callable[[int, UsageRecord], Awaitable[None]]


@dataclass
class Call:
    """One request's running facts, from which its usage record is built."""

    request_id: str
    started: float
    created_at: int
    endpoint: str
    context: KeyContext
    model: str | None = None
    stream: bool = False
    channel: Channel | None = None
    attempts: int = 0
    hold: HoldRequest | None = None
    ttft_ms: int | None = None
    format: str | None = None  # "native" | "converted" (endpoints that convert between API formats)
    extra: dict[str, Any] = field(default_factory=dict)
    price_basis: dict[str, str] = field(default_factory=dict)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def record(
        self,
        status: RecordStatus,
        http_status: int,
        *,
        usage: Usage | None = None,
        usage_source: str | None = None,
        error_code: str | None = None,
    ) -> UsageRecord:
        channel = self.channel
        return UsageRecord(
            request_id=self.request_id,
            created_at=self.created_at,
            account_id=self.context.account.account_id,
            key_id=self.context.key.key_id,
            endpoint=self.endpoint,
            status=status,
            http_status=http_status,
            model=self.model,
            upstream_model=None if channel is None or self.model is None else channel.upstream_model(self.model),
            channel_id=None if channel is None else channel.channel_id,
            stream=self.stream,
            error_code=error_code,
            tokens={} if usage is None else usage.tokens_dict(),
            units={} if usage is None else usage.units_dict(),
            usage_source=usage_source,
            format=self.format,
            service_tier=None if usage is None else usage.service_tier,
            group=self.context.group,
            latency_ms=self.elapsed_ms(),
            ttft_ms=self.ttft_ms,
            attempts=self.attempts,
            price_basis=dict(self.price_basis),
        )


@dataclass
class Billing:
    """What settling needs: the price, the ratio, the hold."""

    price: ModelPrice
    ratio: Decimal
    hold: HoldRequest


def metering_failed(call: Call, billing: Billing) -> tuple[UsageRecord, int]:
    """What a served request whose metering raised is settled at: its hold, the worst case the customer
    agreed to for it (never more), with a record that says so for the operator."""
    return call.record(RecordStatus.OK, 200, error_code="metering_failed"), billing.hold.amount


@dataclass
class Exchange:
    """One admitted request on its way through a response mode (json, sse or bytes).

    Everything the three modes and the sessions share: the endpoint and its parsed request, the call's
    running facts (the channel that answers lands in ``call.channel``), the price and hold, the channels
    to try, and ``settle`` — the one way to settle the hold, so a session never needs the pipeline.
    """

    spec: EndpointSpec
    svc: Services
    call: Call
    prepared: Prepared
    billing: Billing
    channels: list[Channel]
    reservation: Reservation
    settle: Settle

    def charge(self, usage: Usage) -> int:
        """The charge of ``usage`` in micro-USD (the endpoint's ``cost`` hook)."""
        billing = self.billing
        return self.spec.cost(self.prepared, billing.price, usage, billing.ratio)

    async def settle_metered(self, bill: Callable[[], tuple[UsageRecord, int]]) -> None:
        """Settle a body already sent at what ``bill`` says it cost — exactly once, whatever happens.

        Metering that raises never skips the settle (the hold would later be refunded as orphaned):
        the request is settled at its hold (:func:`metering_failed`). A settle the store refuses
        after the body went out is logged, not raised: the client's response still ends cleanly, and
        the hold (with its due charge, if the store took that) is left to maintenance.
        """
        call = self.call
        try:
            record, cost = bill()
        except Exception:
            log.exception("metering of %s failed; settled at its hold", call.request_id)
            record, cost = metering_failed(call, self.billing)
        try:
            await self.settle(cost, record)
        except Exception:
            log.exception("settle of %s failed after its body was sent", call.request_id)

    async def succeeded(self, record: UsageRecord) -> None:
        """Run the endpoint's ``succeeded`` hook in a worker thread, when it has one; never raises."""
        spec = self.spec
        if not spec.stores_on_success:
            return
        try:
            await anyio.to_thread.run_sync(spec.succeeded, self.prepared, record)
        except Exception:
            log.exception("the succeeded hook of %s failed for %s", spec.name, record.request_id)
