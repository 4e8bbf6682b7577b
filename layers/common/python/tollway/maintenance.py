"""Maintenance: finish what a crash interrupted (invariant 6).

- A *settled* marker older than a grace period lost its history writes: write them and close it.
- An *open* hold older than the function timeout belongs to a request that never settled: refund it
  (settle at zero), record it as ``orphaned`` for the operator, and close it.

Every step is repeat-safe, so the sweep may race a live request or another sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tollway.ledger.model import HoldState
from tollway.ledger.ports import LedgerStore
from tollway.records import RecordStatus, UsageRecord

__all__ = ["SweepReport", "sweep_holds"]

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    repaired: list[str] = field(default_factory=list)  # settled markers whose history was finished
    refunded: list[str] = field(default_factory=list)  # orphaned holds refunded
    refunded_micros: int = 0
    open_holds: int = 0  # open holds still in flight (younger than the timeout)

    def to_json(self) -> dict[str, Any]:
        return {
            "repaired": len(self.repaired),
            "refunded": len(self.refunded),
            "refunded_micros": self.refunded_micros,
            "open_holds": self.open_holds,
            "repaired_ids": self.repaired,
            "refunded_ids": self.refunded,
        }


def sweep_holds(ledger: LedgerStore, *, now_ms: int, hold_timeout_s: float, settled_grace_s: float) -> SweepReport:
    report = SweepReport()
    for hold in ledger.holds():
        if hold.state is HoldState.SETTLED:
            if hold.movement is None or now_ms - (hold.settled_at or hold.created_at) < settled_grace_s * 1000:
                continue
            ledger.write_history(hold.movement)
            ledger.close(hold.hold_id)
            report.repaired.append(hold.hold_id)
            continue
        if now_ms - hold.created_at < hold_timeout_s * 1000:
            report.open_holds += 1
            continue
        record = UsageRecord(
            request_id=hold.hold_id,
            created_at=hold.created_at,
            account_id=hold.account_id,
            key_id=hold.key_id,
            endpoint=hold.endpoint or "unknown",
            model=hold.model,
            status=RecordStatus.ORPHANED,
            http_status=0,
            error_code="orphaned_hold",
        )
        movement = ledger.settle(hold.request(), 0, record, now=now_ms)
        if movement is None:
            continue  # the request settled it meanwhile and it was closed
        ledger.write_history(movement)
        ledger.close(hold.hold_id)
        if movement.record is not None and movement.record.status is RecordStatus.ORPHANED:
            report.refunded.append(hold.hold_id)
            report.refunded_micros += hold.amount
            log.warning("refunded orphaned hold %s of %s (%d micro-USD)", hold.hold_id, hold.account_id, hold.amount)
    return report
