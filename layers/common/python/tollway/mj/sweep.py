"""``mj.sweep``, scheduled: polling is the source of truth, callbacks only make it faster.

For every open task (sparse index, oldest first):

- unfinished and older than the task timeout (default 1 h, tollway's own clock) → failed and refunded;
- unfinished → polled, in batches per channel, with ``list-by-condition``; the same forward-only rules
  as callbacks apply. Tasks of another kind (``Task.kind``: Suno) are polled by their own poller
  (``POLLERS``), with the same timeout, refund and recovery rules;
- finished with follow-ups left (a refund, an image copy, a notifyHook round due) → finished;
- pending (reserved but never accepted or refused: the process died mid-submit) and older than an
  orphaned hold → resolved from the submit's usage record: charged → failed and refunded; not
  charged → discarded.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tollway.mj.model import Phase, StateUpdate, Task, TaskStatus
from tollway.mj.news import state_of
from tollway.mj.runtime import MjRuntime
from tollway.mj.upstream import UpstreamDown

__all__ = ["POLLERS", "Poller", "SweepReport", "note_outcome", "sweep_tasks"]

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    open: int = 0
    polled: int = 0
    timed_out: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    closed: int = 0
    recovered: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    poll_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "polled": self.polled,
            "timed_out": self.timed_out,
            "refunded": self.refunded,
            "closed": self.closed,
            "recovered": self.recovered,
            "discarded": self.discarded,
            "poll_errors": self.poll_errors,
        }


#: Polls one channel's unfinished tasks of one kind: ``(runtime, channel id, tasks, now, batch, report)``.
Poller = Callable[[MjRuntime, str, list[Task], int, int, SweepReport], None]
#: The pollers of the other task kinds, imported on first use (``module:function``).
POLLERS: dict[str, str] = {"suno": "tollway.suno.poll:poll_channel"}


def _poller(kind: str) -> Poller | None:
    if kind == "mj":
        return _poll_channel
    target = POLLERS.get(kind)
    if target is None:
        return None
    module, name = target.split(":")
    poller: Poller = getattr(importlib.import_module(module), name)
    return poller


def note_outcome(report: SweepReport, before: Task, after: Task) -> None:
    """Count what handling ``before`` did (refunded, closed) in the report."""
    if after.refunded_at is not None and before.refunded_at is None:
        report.refunded.append(after.task_id)
    if before.open and not after.open:
        report.closed += 1


def sweep_tasks(rt: MjRuntime, now: int, *, limit: int = 1000, batch: int = 100) -> SweepReport:
    report = SweepReport()
    tasks = rt.tasks.open_tasks(limit)
    report.open = len(tasks)
    timeout_ms = int(rt.options().task_timeout_s * 1000)
    to_poll: dict[tuple[str, str], list[Task]] = defaultdict(list)
    stale_pending: list[Task] = []
    for task in tasks:
        if task.phase is Phase.PENDING:
            if now - task.created_at > (rt.settings.hold_timeout_s + rt.settings.settled_grace_s) * 1000:
                stale_pending.append(task)
        elif task.terminal:
            note_outcome(report, task, rt.engine.followups(task, now))
        elif now - task.created_at > timeout_ms:
            after = rt.engine.time_out(task, now)
            report.timed_out.append(task.task_id)
            note_outcome(report, task, after)
        elif task.upstream_id:
            to_poll[(task.kind, task.channel_id)].append(task)
    for (kind, channel_id), group in to_poll.items():
        poller = _poller(kind)
        if poller is None:
            # Nothing here can read this kind's upstream; the timeout still fails and refunds them.
            report.poll_errors.append(f"{channel_id}: no poller for {kind} tasks")
            continue
        poller(rt, channel_id, group, now, batch, report)
    if stale_pending:
        _recover_pending(rt, stale_pending, now, report)
    return report


def _poll_channel(rt: MjRuntime, channel_id: str, group: list[Task], now: int, batch: int, report: SweepReport) -> None:
    channel = rt.channel(channel_id)
    if channel is None:
        # The channel was removed: nothing will ever report on these tasks; the timeout refunds them.
        report.poll_errors.append(f"{channel_id}: channel not found")
        return
    secret = rt.svc.channel_secrets.get(channel_id)
    for start in range(0, len(group), batch):
        chunk = group[start : start + batch]
        try:
            items = rt.upstream.list_tasks(channel, secret, [t.upstream_id or "" for t in chunk])
        except UpstreamDown as exc:
            log.warning("polling channel %s failed: %s", channel_id, exc.reason)
            report.poll_errors.append(f"{channel_id}: {exc.reason}")
            continue
        report.polled += len(chunk)
        by_id = {str(item.get("id")): item for item in items}
        for task in chunk:
            update = state_of(by_id.get(task.upstream_id or ""))
            after = rt.engine.observe(task, update, now) if update else rt.engine.followups(task, now)
            note_outcome(report, task, after)


def _recover_pending(rt: MjRuntime, tasks: list[Task], now: int, report: SweepReport) -> None:
    open_holds = {h.hold_id for h in rt.svc.ledger.holds()}
    for task in tasks:
        if task.hold_id in open_holds:
            continue  # maintenance settles the orphaned hold first; the next sweep decides
        record = rt.svc.usage.get(task.account_id, task.hold_id)
        if record is None or record.charge <= 0 or record.task_id != task.task_id:
            rt.tasks.discard(task.task_id)
            report.discarded.append(task.task_id)
            continue
        # Charged, but the process died before recording the upstream's answer: the task is lost to
        # tollway (no upstream id to poll), so it fails and the customer gets the money back.
        view = {"failReason": "the submission was interrupted; the task was lost", "finishTime": now}
        lost = StateUpdate(TaskStatus.FAILURE, "", view)
        accepted = rt.tasks.accept(
            task.task_id, upstream_id="", channel_id=task.channel_id, charge=record.charge, update=lost, now=now
        )
        if accepted is not None:
            report.recovered.append(task.task_id)
            note_outcome(report, task, rt.engine.followups(accepted, now))
