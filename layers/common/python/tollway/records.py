"""The usage record: exactly one per authenticated request to a billable endpoint.

Refusals are recorded too (a 402 or 403 after authentication has an account to attribute it to);
read-only calls (model lists, usage views, pricing, task fetches) write none.

A settled request's record is also its ledger debit (``debit``): the settle writes one item that is
both, in the same transaction as the balance (``tollway/ledger/settle.py``). When records expire by
TTL the settle writes the debit as its own ledger entry instead, and the record carries no ``debit``:
the ledger is kept forever, records need not be.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["RecordStatus", "UsageRecord"]


class RecordStatus(StrEnum):
    """How a request ended, from the customer's point of view."""

    OK = "ok"  # served and charged for what it used
    REFUSED = "refused"  # refused by tollway before any upstream call (400/402/403/404/413/429)
    ERROR = "error"  # the upstream failed or rejected it; nothing charged
    CLIENT_CLOSED = "client_closed"  # the client went away mid-answer; charged for what was produced
    ORPHANED = "orphaned"  # the request never settled (crash); maintenance closed and refunded its hold


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One request's record. Amounts are integer micro-USD; times are epoch milliseconds."""

    request_id: str
    created_at: int
    account_id: str
    key_id: str | None
    endpoint: str
    status: RecordStatus
    http_status: int
    model: str | None = None
    upstream_model: str | None = None
    channel_id: str | None = None
    stream: bool = False
    error_code: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    units: dict[str, Any] = field(default_factory=dict)
    usage_source: str | None = None  # "upstream" | "estimated"
    format: str | None = None  # "native" | "converted": the upstream spoke the client's API or another one
    service_tier: str | None = None
    group: str | None = None
    hold: int = 0
    charge: int = 0
    shortfall: int = 0
    latency_ms: int | None = None
    ttft_ms: int | None = None
    attempts: int = 0
    task_id: str | None = None
    entry_ids: tuple[str, ...] = ()
    # What the charge was priced on, when it is not the plain list price: {"markup": "2"} (the operator's
    # markup on the shipped price) and/or {"ratio": "0.8"} (the group's ratio). Decimal strings.
    price_basis: dict[str, str] = field(default_factory=dict)
    # The request's charge entry when this record is the ledger's book of it (micro-USD taken; the
    # entry ``<request_id>#charge`` is then stored in this record, not in the ledger table). Set by
    # the settle only; never rewritten, so a task refund that lowers ``charge`` leaves it as taken.
    debit: int | None = None

    def replace(self, **changes: Any) -> UsageRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON (the shape of usage.query and the customers' usage views)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or value == {} or value == ():
                continue
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        out["time"] = datetime.fromtimestamp(self.created_at / 1000, tz=UTC).isoformat(timespec="milliseconds")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageRecord:
        """Inverse of :meth:`to_json` (unknown keys are ignored, so the schema can grow)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["status"] = RecordStatus(kwargs["status"])
        kwargs["entry_ids"] = tuple(kwargs.get("entry_ids", ()))
        return cls(**kwargs)
