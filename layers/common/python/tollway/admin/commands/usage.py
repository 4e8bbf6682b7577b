"""usage.* — reading and exporting usage records (through the one query module, ``usage/query.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import InvalidArguments
from tollway.exports import spooled_csv
from tollway.operator import operator_stores
from tollway.records import UsageRecord
from tollway.usage.query import UsageFilter, UsageReader


class QueryUsage(Args):
    account_id: str | None = None
    key_id: str | None = None
    model: str | None = None
    channel_id: str | None = None
    status: Literal["ok", "refused", "error", "client_closed", "orphaned"] | None = None
    start: datetime | None = Field(default=None, description="ISO-8601 time, inclusive.")
    end: datetime | None = Field(default=None, description="ISO-8601 time, exclusive.")
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = None


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@REGISTRY.command("usage.query", QueryUsage, mutating=False, summary="Usage records, newest first, with a cursor.")
def query_usage(args: QueryUsage, context: AdminContext) -> dict[str, Any]:
    try:
        page = context.services.usage.query(
            UsageFilter(
                account_id=args.account_id,
                key_id=args.key_id,
                model=args.model,
                channel_id=args.channel_id,
                status=args.status,
                start_ms=_ms(args.start),
                end_ms=_ms(args.end),
                limit=args.limit,
                cursor=args.cursor,
            )
        )
    except ValueError as exc:
        raise InvalidArguments(str(exc)) from exc
    return {"records": [r.to_json() for r in page.records], "next_cursor": page.next_cursor}


class ExportUsage(Args):
    account_id: str | None = None
    key_id: str | None = None
    model: str | None = None
    channel_id: str | None = None
    status: Literal["ok", "refused", "error", "client_closed", "orphaned"] | None = None
    start: datetime | None = Field(default=None, description="ISO-8601 time, inclusive (default: 7 days ago).")
    end: datetime | None = Field(default=None, description="ISO-8601 time, exclusive (default: now).")


def _all(reader: UsageReader, flt: UsageFilter, limit: int) -> Iterator[UsageRecord]:
    cursor: str | None = None
    count = 0
    while True:
        page = reader.query(UsageFilter(**{**flt.__dict__, "cursor": cursor, "limit": 1000}))
        for record in page.records:
            if count >= limit:
                return
            count += 1
            yield record
        cursor = page.next_cursor
        if cursor is None:
            return


@REGISTRY.command(
    "usage.export", ExportUsage, mutating=False, summary="Export usage records as CSV to S3 (a presigned link)."
)
def export_usage(args: ExportUsage, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    now = context.clock_ms()
    end = _ms(args.end) or now
    start = _ms(args.start) or end - 7 * 86_400_000
    if start >= end:
        raise InvalidArguments("start must be before end.")
    flt = UsageFilter(
        account_id=args.account_id,
        key_id=args.key_id,
        model=args.model,
        channel_id=args.channel_id,
        status=args.status,
        start_ms=start,
        end_ms=end,
    )
    body, rows, size = spooled_csv(_all(svc.usage, flt, svc.settings.export_max_rows))
    stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = args.account_id or args.key_id or "all"
    key = f"exports/usage-{scope}-{stamp}-{now % 100000:05d}.csv"
    with body:
        link = operator_stores(svc).exports.upload(key, body, size, "text/csv; charset=utf-8")
    return {
        "rows": rows,
        "truncated": rows >= svc.settings.export_max_rows,
        "start": datetime.fromtimestamp(start / 1000, tz=UTC).isoformat(),
        "end": datetime.fromtimestamp(end / 1000, tz=UTC).isoformat(),
        **link.to_json(),
    }
