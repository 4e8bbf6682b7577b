"""What a customer sees with only their key: balance, spend, prices, every charge (明细可查).

- ``GET /dashboard/billing/subscription`` and ``GET /dashboard/billing/usage`` (bare and ``/v1``): the
  legacy shapes NextChat and key checkers read — ``hard_limit_usd`` in dollars, ``total_usage`` in cents.
- ``GET /api/usage/token``: this key's limit, used, remaining and expiry.
- ``GET /api/pricing``: the models this key may use, at the prices its group pays.
- ``GET /api/usage/logs``: this key's usage records — or its account's, with ``scope=account`` when the
  operator set the key's ``usage_scope`` setting to ``"account"`` — newest first, filtered by time
  range, model or request id, with cursor pagination. Never another account's records.
- ``GET /v1/models/{model}``: one model, if this key may use it.

The limit of a key: a key with its own limit has ``limit = used + remaining`` (its grant); an unlimited
key shows its account's balance as limit and remaining (the same rule gives ``hard_limit_usd``).
``used`` sums the key's usage records (``tollway.usage.totals``). Read-only: no usage record is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.auth import KeyContext
from tollway.errors import InvalidRequest, NotFound, PermissionDenied
from tollway.money import format_usd
from tollway.records import UsageRecord
from tollway.usage.query import UsageFilter
from tollway.usage.totals import Spend, spend

from relay.pipeline import Pipeline
from relay.price_list import price_list
from relay.routes.access import customer_context

__all__ = ["customer_routes", "public_record"]

#: The fields of a usage record a customer sees (not the channel, upstream model, hold or ledger ids).
_PUBLIC_FIELDS = (
    "request_id",
    "time",
    "created_at",
    "key_id",
    "endpoint",
    "model",
    "stream",
    "status",
    "http_status",
    "error_code",
    "tokens",
    "units",
    "usage_source",
    "format",
    "service_tier",
    "charge",
    "price_basis",
    "latency_ms",
    "ttft_ms",
    "task_id",
)
_MAX_LIMIT = 100
_CENTS = Decimal(10_000)  # micro-USD per cent


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def public_record(record: UsageRecord) -> dict[str, Any]:
    """A usage record as its owner sees it (charge also as a USD string)."""
    data = record.to_json()
    out = {name: data[name] for name in _PUBLIC_FIELDS if name in data}
    tokens = out.setdefault("tokens", {})
    if tokens.get("cached") or tokens.get("cache_write"):
        # Prompt-cache columns, each billed at its own price: reads, 5-minute writes, 1-hour writes.
        writes_1h = int(tokens.get("cache_write_1h", 0))
        out["cache"] = {
            "reads": int(tokens.get("cached", 0)),
            "writes_5m": int(tokens.get("cache_write", 0)) - writes_1h,
            "writes_1h": writes_1h,
        }
    out["charge_usd"] = format_usd(record.charge)
    if record.task_id is not None:
        # A failed Midjourney/Suno task was refunded: its record carries the refund's ledger entry.
        out["refunded"] = any(e.endswith("#refund") for e in record.entry_ids)
    return out


def _usd(micros: int) -> float:
    # The legacy billing shapes are JSON numbers in dollars; format_usd keeps the conversion exact.
    return float(format_usd(micros))


def _time_ms(value: str | None, name: str) -> int | None:
    """Epoch seconds or milliseconds, or an ISO date/time (UTC when it has no zone)."""
    if value is None or value == "":
        return None
    if value.isdigit():
        number = int(value)
        return number if number >= 100_000_000_000 else number * 1000
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' must be epoch seconds or an ISO date.", param=name) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _scope(context: KeyContext, request: Request) -> UsageFilter:
    """The records this caller may read: its key's, or its account's with permission."""
    scope = request.query_params.get("scope", "key")
    account = context.account.account_id
    if scope == "key":
        return UsageFilter(account_id=account, key_id=context.key.key_id)
    if scope == "account":
        if context.key.settings.get("usage_scope") != "account":
            raise PermissionDenied(
                "This API key may read only its own usage; the operator can allow account scope.",
                code="scope_not_allowed",
            )
        return UsageFilter(account_id=account)
    raise InvalidRequest("'scope' must be 'key' or 'account'.", param="scope")


class CustomerViews:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def _used(self, context: KeyContext, flt: UsageFilter) -> Spend:
        svc = await self.pipeline.services()
        limit = svc.settings.usage_sum_max_records
        return await self.pipeline.blocking(lambda: spend(svc.usage, flt, max_records=limit))

    async def _limits(self, context: KeyContext, *, need_used: bool) -> tuple[int, int, int, bool, Spend]:
        """(limit, used, remaining, unlimited, spend) of the key, in micro-USD. An unlimited key's limit is
        its account's balance, so its spend is only read when asked for."""
        balance = context.account.balance
        unlimited = context.key.remaining is None
        used = Spend()
        if need_used or not unlimited:
            scope = UsageFilter(account_id=context.account.account_id, key_id=context.key.key_id)
            used = await self._used(context, scope)
        if context.key.remaining is None:
            return balance, used.total, balance, True, used
        remaining = context.key.remaining
        return used.total + remaining, used.total, min(remaining, balance), False, used

    async def subscription(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        limit, _, _, _, _ = await self._limits(context, need_used=False)
        hard = _usd(limit)
        return _json(
            {
                "object": "billing_subscription",
                "has_payment_method": True,
                "soft_limit_usd": hard,
                "hard_limit_usd": hard,
                "system_hard_limit_usd": hard,
                "access_until": context.key.expires_at or 0,
                "plan": {"title": "tollway", "id": context.group},
            }
        )

    async def usage(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        today = datetime.now(tz=UTC).date()
        start = _date(request.query_params.get("start_date"), "start_date", today.replace(day=1))
        end = _date(request.query_params.get("end_date"), "end_date", today + timedelta(days=1))
        flt = _scope(context, request)
        flt = UsageFilter(
            account_id=flt.account_id,
            key_id=flt.key_id,
            start_ms=_midnight_ms(start),
            end_ms=_midnight_ms(end),
        )
        used = await self._used(context, flt)
        daily = [
            {
                "timestamp": _midnight_ms(date.fromisoformat(day)) // 1000,
                "line_items": [
                    {"name": model, "cost": float(Decimal(v) / _CENTS)} for model, v in sorted(items.items())
                ],
            }
            for day, items in sorted(used.by_day.items())
        ]
        return _json(
            {
                "object": "list",
                "total_usage": float(Decimal(used.total) / _CENTS),  # cents, as OpenAI's legacy API
                "daily_costs": daily,
                "complete": used.complete,
            }
        )

    async def token(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        limit, used, remaining, unlimited, spent = await self._limits(context, need_used=True)
        key = context.key
        return _json(
            {
                "object": "token_usage",
                "key_id": key.key_id,
                "name": key.name,
                "unlimited": unlimited,
                "limit": limit,
                "used": used,
                "remaining": remaining,
                "limit_usd": format_usd(limit),
                "used_usd": format_usd(used),
                "remaining_usd": format_usd(remaining),
                "account_balance_usd": format_usd(context.account.balance),
                "expires_at": key.expires_at,
                "used_complete": spent.complete,
            }
        )

    async def pricing(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        svc = await self.pipeline.services()
        catalog = await self.pipeline.catalog(svc)
        return _json(price_list(catalog, context.group, context.key.allows_model))

    async def logs(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        svc = await self.pipeline.services()
        params = request.query_params
        flt = _scope(context, request)
        wanted = params.get("request_id")
        if wanted:
            record = await self.pipeline.blocking(svc.usage.get, context.account.account_id, wanted)
            found = record is not None and flt.matches(record)
            return _json(
                {"object": "list", "data": [public_record(record)] if found and record else [], "next_cursor": None}
            )
        limit = params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= _MAX_LIMIT:
            raise InvalidRequest(f"'limit' must be between 1 and {_MAX_LIMIT}.", param="limit")
        query = UsageFilter(
            account_id=flt.account_id,
            key_id=flt.key_id,
            start_ms=_time_ms(params.get("start"), "start"),
            end_ms=_time_ms(params.get("end"), "end"),
            model=params.get("model") or None,
            limit=int(limit),
            cursor=params.get("cursor") or None,
        )
        try:
            page = await self.pipeline.blocking(svc.usage.query, query)
        except ValueError as exc:
            raise InvalidRequest("'cursor' is not valid.", param="cursor") from exc
        return _json(
            {
                "object": "list",
                "data": [public_record(r) for r in page.records],
                "next_cursor": page.next_cursor,
                "has_more": page.next_cursor is not None,
            }
        )

    async def model(self, request: Request) -> Response:
        context = await customer_context(self.pipeline, request)
        svc = await self.pipeline.services()
        catalog = await self.pipeline.catalog(svc)
        name = request.path_params["model"]
        if "anthropic-version" in request.headers:
            from relay.routes.anthropic import anthropic_model

            return anthropic_model(catalog, context, name)
        if name not in catalog.models_for(context.group) or not context.key.allows_model(name):
            raise NotFound(
                f"The model '{name}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        price = catalog.price(name)
        shutdown = price.shutdown_date.isoformat() if price is not None and price.shutdown_date else None
        return _json({"id": name, "object": "model", "created": 0, "owned_by": "tollway", "shutdown_date": shutdown})


def _date(value: str | None, name: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' must be a date (YYYY-MM-DD).", param=name) from exc


def _midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def customer_routes(pipeline: Pipeline) -> list[BaseRoute]:
    views = CustomerViews(pipeline)
    routes: list[BaseRoute] = []
    for prefix in ("", "/v1"):
        routes += [
            Route(f"{prefix}/dashboard/billing/subscription", views.subscription, methods=["GET"]),
            Route(f"{prefix}/dashboard/billing/usage", views.usage, methods=["GET"]),
            Route(f"{prefix}/models/{{model:path}}", views.model, methods=["GET"]),
        ]
    routes += [
        Route("/api/usage/token", views.token, methods=["GET"]),
        Route("/api/pricing", views.pricing, methods=["GET"]),
        Route("/api/usage/logs", views.logs, methods=["GET"]),
    ]
    return routes
