"""One request's running facts (its usage record is built from them) and what settling it needs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tollway.auth import KeyContext, load_context
from tollway.billing import Reservation, StaleKey
from tollway.config.model import Channel
from tollway.errors import AuthenticationFailed
from tollway.ledger.model import HoldRequest
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord
from tollway.services import Services

__all__ = ["Billing", "Call", "reserve_fresh"]


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
        )


@dataclass
class Billing:
    """What settling needs: the price, the ratio, the hold."""

    price: ModelPrice
    ratio: Decimal
    hold: HoldRequest


def reserve_fresh(
    svc: Services,
    context: KeyContext,
    *,
    hold_id: str,
    budget: OutputBudget,
    output_limit: int | None,
    min_output: int,
    now_ms: int,
    endpoint: str,
    model: str | None,
) -> tuple[Reservation, KeyContext]:
    """Reserve a request's worst case (blocking), and the key context it was reserved under.

    A copy that is no longer current fails the reserve's condition (``StaleKey``: the key's limit or
    guards changed, or — for an unlimited key — any key of its account did): the account and key are
    read again, once, and the reserve repeated with them.
    """

    def attempt(ctx: KeyContext) -> Reservation:
        return svc.biller.reserve(
            ctx,
            hold_id=hold_id,
            budget=budget,
            output_limit=output_limit,
            min_output=min_output,
            now_ms=now_ms,
            endpoint=endpoint,
            model=model,
        )

    try:
        return attempt(context), context
    except StaleKey:
        svc.keys.forget(context.key.key_hash)
        fresh = load_context(svc.accounts, context.key.key_hash, context.account.account_id)
        if fresh is None:
            raise AuthenticationFailed("Incorrect API key provided.") from None
        return attempt(fresh), fresh
