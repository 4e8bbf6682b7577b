"""stats.* — usage statistics per day × model, account or channel, computed from the usage records
(no counters on the relay's hot path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import Field

from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import InvalidArguments
from tollway.usage.stats import Dimension, compute_stats


class QueryStats(Args):
    by: Dimension = Field(default="model", description="model, account or channel.")
    start: date | None = Field(default=None, description="First UTC day (default: 6 days before end).")
    end: date | None = Field(default=None, description="Last UTC day, inclusive (default: today).")
    account_id: str | None = None
    key_id: str | None = None


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@REGISTRY.command("stats.query", QueryStats, mutating=False, summary="Requests, tokens, charge, errors, latency.")
def query_stats(args: QueryStats, context: AdminContext) -> dict[str, Any]:
    today = datetime.fromtimestamp(context.clock_ms() / 1000, tz=UTC).date()
    end = args.end or today
    start = args.start or end - timedelta(days=6)
    if start > end:
        raise InvalidArguments("start must not be after end.")
    if (end - start).days > 92:
        raise InvalidArguments("At most 93 days at a time; use usage export for longer ranges.")
    report = compute_stats(
        context.services.usage,
        start_ms=_day_ms(start),
        end_ms=_day_ms(end + timedelta(days=1)),
        by=args.by,
        account_id=args.account_id,
        key_id=args.key_id,
    )
    return {"start": start.isoformat(), "end": end.isoformat(), **report.to_json()}
