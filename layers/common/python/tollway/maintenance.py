"""Maintenance: finish what a crash interrupted (invariant 6), and tell the operator what changed.

- A *settled* marker older than a grace period lost its history writes: write them and close it. Only
  movements born settled leave markers (credits, redemptions, task refunds, and requests settled by an
  older version); a request's settle writes its history and closes its hold in one transaction.
- An *open* hold older than the function timeout belongs to a request that never settled: refund it
  (settle at zero — which also gives back a key's concurrency lease, writes its ``orphaned`` record
  for the operator and closes it, in one transaction).
- ``run_maintenance`` (``maintenance.run``, the EventBridge schedule) adds a report of the channels
  disabled automatically and the accounts that fell under the low-balance threshold since the last
  run, published to the alerts topic when there is something to say.

Every step is repeat-safe, so the sweep may race a live request or another sweep.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tollway.accounts.model import AccountStatus
from tollway.config.model import ChannelStatus
from tollway.errors import StoreUnavailable
from tollway.ledger.model import Hold, HoldState, Movement, SettleDeferred
from tollway.ledger.ports import LedgerStore
from tollway.money import format_usd
from tollway.records import RecordStatus, UsageRecord

if TYPE_CHECKING:
    from tollway.alerts import Alerts
    from tollway.services import Services

__all__ = ["MaintenanceReport", "SweepReport", "run_maintenance", "sweep_holds"]

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    repaired: list[str] = field(default_factory=list)  # settled markers whose history was finished
    refunded: list[str] = field(default_factory=list)  # orphaned holds refunded
    refunded_micros: int = 0
    settled_due: list[str] = field(default_factory=list)  # deferred settles finished at their charge
    failed: list[str] = field(default_factory=list)  # holds the store refused this run (retried next run)
    open_holds: int = 0  # open holds still in flight (younger than the timeout)

    def to_json(self) -> dict[str, Any]:
        return {
            "repaired": len(self.repaired),
            "refunded": len(self.refunded),
            "refunded_micros": self.refunded_micros,
            "settled_due": len(self.settled_due),
            "failed": len(self.failed),
            "open_holds": self.open_holds,
            "repaired_ids": self.repaired,
            "refunded_ids": self.refunded,
        }


def sweep_holds(ledger: LedgerStore, *, now_ms: int, hold_timeout_s: float, settled_grace_s: float) -> SweepReport:
    report = SweepReport()
    for hold in ledger.holds():
        try:
            _sweep_one(
                ledger, hold, report, now_ms=now_ms, hold_timeout_s=hold_timeout_s, settled_grace_s=settled_grace_s
            )
        except (StoreUnavailable, SettleDeferred) as exc:
            # one hold the store would not take now is left for the next run; the others go on
            report.failed.append(hold.hold_id)
            log.warning("sweep of %s failed (%s); the next run retries it", hold.hold_id, exc)
    return report


def _sweep_one(
    ledger: LedgerStore, hold: Hold, report: SweepReport, *, now_ms: int, hold_timeout_s: float, settled_grace_s: float
) -> None:
    if hold.state is HoldState.SETTLED:
        if hold.movement is None or now_ms - (hold.settled_at or hold.created_at) < settled_grace_s * 1000:
            return
        ledger.write_history(hold.movement)
        ledger.close(hold.hold_id)
        report.repaired.append(hold.hold_id)
        return
    if hold.due_charge is not None and hold.due_record is not None:
        # the request finished and computed its charge, but its settle could not land: settle it
        # at that charge with its own record (the request was served)
        movement = ledger.settle(hold.request(), hold.due_charge, hold.due_record, now=now_ms)
        if movement is not None:
            _finish(ledger, movement)
            report.settled_due.append(hold.hold_id)
        return
    if now_ms - hold.created_at < hold_timeout_s * 1000:
        report.open_holds += 1
        return
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
        return  # the request settled it meanwhile and it was closed
    _finish(ledger, movement)
    if movement.record is not None and movement.record.status is RecordStatus.ORPHANED:
        report.refunded.append(hold.hold_id)
        report.refunded_micros += hold.amount
        log.warning("refunded orphaned hold %s of %s (%d micro-USD)", hold.hold_id, hold.account_id, hold.amount)


def _finish(ledger: LedgerStore, movement: Movement) -> None:
    """The history and close of a settle an older version left as a marker (a settle today writes
    both itself: ``movement.closed``)."""
    if not movement.closed:
        ledger.write_history(movement)
        ledger.close(movement.movement_id)


STATE_NAME = "maintenance"
_MAX_REMEMBERED = 5_000  # low-balance accounts remembered between runs (to report only new ones)


@dataclass
class MaintenanceReport:
    now_ms: int
    since_ms: int | None
    sweep: SweepReport
    threshold: int
    channels: list[dict[str, Any]] = field(default_factory=list)  # auto-disabled since the last run
    channels_auto_disabled: int = 0  # currently auto-disabled, in all
    low_balance: list[dict[str, Any]] = field(default_factory=list)  # newly under the threshold
    low_balance_accounts: int = 0  # currently under it, in all
    published: str | None = None  # the SNS message id
    publish_note: str = ""

    @property
    def notable(self) -> bool:
        return bool(self.sweep.refunded or self.sweep.repaired or self.channels or self.low_balance)

    def text(self) -> str:
        """The report as operators read it in an e-mail."""
        lines = ["tollway maintenance report"]
        refunded = format_usd(self.sweep.refunded_micros)
        lines.append(f"  holds: {len(self.sweep.refunded)} orphaned refunded (${refunded})")
        lines += [f"    - {hold_id}" for hold_id in self.sweep.refunded[:50]]
        lines.append(f"         {len(self.sweep.repaired)} unfinished settlements completed")
        lines.append(f"         {self.sweep.open_holds} requests in flight")
        lines.append(f"  channels disabled automatically since the last run: {len(self.channels)}")
        lines += [f"    - {c['channel_id']} ({c['name']}): {c['reason']}" for c in self.channels]
        lines.append(f"  accounts newly under ${format_usd(self.threshold)}: {len(self.low_balance)}")
        lines += [f"    - {a['account_id']} ({a['name']}): ${a['balance_usd']}" for a in self.low_balance]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms,
            "since_ms": self.since_ms,
            "sweep": self.sweep.to_json(),
            "channels_auto_disabled_since_last_run": self.channels,
            "channels_auto_disabled": self.channels_auto_disabled,
            "low_balance_threshold_usd": format_usd(self.threshold),
            "low_balance_since_last_run": self.low_balance,
            "low_balance_accounts": self.low_balance_accounts,
            "notable": self.notable,
            "published": self.published,
            "publish_note": self.publish_note,
        }


def run_maintenance(
    services: Services,
    alerts: Alerts,
    *,
    now_ms: int,
    threshold: int,
    publish: Literal["auto", "always", "never"] = "auto",
) -> MaintenanceReport:
    """The sweep, then the report of what changed since the last run; published when there is news."""
    settings = services.settings
    sweep = sweep_holds(
        services.ledger, now_ms=now_ms, hold_timeout_s=settings.hold_timeout_s, settled_grace_s=settings.settled_grace_s
    )
    state = services.config.get_state(STATE_NAME) or {}
    since = state.get("last_run_ms")
    since_ms = int(since) if since is not None else None
    report = MaintenanceReport(now_ms=now_ms, since_ms=since_ms, sweep=sweep, threshold=threshold)
    for channel in services.config.list_channels():
        if channel.status is not ChannelStatus.AUTO_DISABLED:
            continue
        report.channels_auto_disabled += 1
        if since_ms is None or channel.status_changed_at > since_ms:
            report.channels.append(
                {"channel_id": channel.channel_id, "name": channel.name, "reason": channel.disabled_reason or ""}
            )
    known_low = set(state.get("low_accounts", []))
    low_now: list[str] = []
    cursor: str | None = None
    while True:
        page = services.accounts.list_accounts(group=None, status=AccountStatus.ACTIVE, limit=500, cursor=cursor)
        for account in page.accounts:
            if account.balance >= threshold:
                continue
            low_now.append(account.account_id)
            if account.account_id not in known_low:
                report.low_balance.append(
                    {"account_id": account.account_id, "name": account.name, "balance_usd": format_usd(account.balance)}
                )
        cursor = page.next_cursor
        if cursor is None:
            break
    report.low_balance_accounts = len(low_now)
    services.config.put_state(STATE_NAME, {"last_run_ms": now_ms, "low_accounts": low_now[:_MAX_REMEMBERED]})
    if publish == "always" or (publish == "auto" and report.notable):
        body = report.text() + "\n" + json.dumps(report.to_json(), indent=2)
        report.published = alerts.publish("tollway maintenance report", body)
        report.publish_note = "published" if report.published else "no alerts topic configured"
    else:
        report.publish_note = "nothing new to report" if publish == "auto" else "publishing turned off"
    return report
