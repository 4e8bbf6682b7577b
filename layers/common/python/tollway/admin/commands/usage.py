"""usage.* — reading usage records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tollway.admin.registry import REGISTRY, AdminContext, Args, CommandError
from tollway.usage.query import UsageFilter


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
        raise CommandError("invalid_args", str(exc)) from exc
    return {"records": [r.to_json() for r in page.records], "next_cursor": page.next_cursor}
