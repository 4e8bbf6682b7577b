"""trail.* — the audit trail of mutating operator commands (when, what, by whom, outcome)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import InvalidArguments
from tollway.operator import operator_stores
from tollway.trail import TrailFilter


class QueryTrail(Args):
    start: datetime | None = Field(default=None, description="ISO-8601 time, inclusive (default: 30 days ago).")
    end: datetime | None = Field(default=None, description="ISO-8601 time, exclusive (default: now).")
    # Not "command": the CLI keeps the command itself under that name.
    command_name: str | None = Field(default=None, description='A command ("key.update") or a group ("key").')
    actor: str | None = Field(default=None, description="Only entries whose actor contains this.")
    outcome: Literal["ok", "error"] | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


@REGISTRY.command("trail.query", QueryTrail, mutating=False, summary="Who changed what, newest first.")
def query_trail(args: QueryTrail, context: AdminContext) -> dict[str, Any]:
    now = context.clock_ms()
    end = int(args.end.timestamp() * 1000) if args.end else now + 1
    start = int(args.start.timestamp() * 1000) if args.start else end - 30 * 86_400_000
    try:
        page = operator_stores(context.services).trail.query(
            TrailFilter(
                start_ms=start,
                end_ms=end,
                command=args.command_name,
                actor=args.actor,
                outcome=args.outcome,
                limit=args.limit,
                cursor=args.cursor,
            )
        )
    except ValueError as exc:
        raise InvalidArguments(str(exc)) from exc
    return {"entries": [e.to_json() for e in page.entries], "next_cursor": page.next_cursor}
