"""Asking Suno upstreams how their tasks are doing: the sweep's poller (``mj.sweep`` runs it for Suno
tasks, see ``tollway.mj.sweep.POLLERS``) and the refresh a client's fetch triggers.

Both read ``POST {base}/suno/fetch`` in batches per channel and apply the news under the shared
forward-only rule (``TaskStore.apply``). The sweep runs the follow-ups (the refund of a failed task)
at once; a fetch leaves them to run after its answer is sent.
"""

from __future__ import annotations

import functools
import logging

from tollway.mj.model import StateUpdate, Task
from tollway.mj.runtime import MjRuntime
from tollway.mj.sweep import SweepReport, note_outcome
from tollway.suno.news import state_of
from tollway.suno.runtime import SunoRuntime, suno_runtime_of
from tollway.suno.upstream import UpstreamDown
from tollway.tasks.reads import refresh as refresh_tasks

__all__ = ["poll_channel", "read_states", "refresh"]

log = logging.getLogger(__name__)


def _items_by_id(srt: SunoRuntime, channel_id: str, tasks: list[Task]) -> tuple[dict[str, dict[str, object]], str]:
    """The upstream's items for ``tasks`` (one channel), keyed by upstream id, and the channel key.

    Raises:
        UpstreamDown: the channel is gone, or its upstream gave no usable answer.
    """
    channel = srt.channel(channel_id)
    if channel is None:
        raise UpstreamDown("channel not found")
    secret = srt.svc.channel_secrets.get(channel_id) or ""
    items = srt.upstream.fetch(channel, secret or None, [t.upstream_id or "" for t in tasks])
    return {str(item.get("task_id")): item for item in items}, secret


def poll_channel(rt: MjRuntime, channel_id: str, group: list[Task], now: int, batch: int, report: SweepReport) -> None:
    """The sweep's poller for one channel's unfinished Suno tasks (``tollway.mj.sweep.Poller``)."""
    srt = suno_runtime_of(rt)
    for start in range(0, len(group), batch):
        chunk = group[start : start + batch]
        try:
            by_id, secret = _items_by_id(srt, channel_id, chunk)
        except UpstreamDown as exc:
            # A removed channel never reports again: the timeout fails and refunds its tasks.
            log.warning("polling suno channel %s failed: %s", channel_id, exc.reason)
            report.poll_errors.append(f"{channel_id}: {exc.reason}")
            continue
        report.polled += len(chunk)
        for task in chunk:
            update = state_of(by_id.get(task.upstream_id or ""), secret=secret)
            after = rt.engine.observe(task, update, now) if update else rt.engine.followups(task, now)
            note_outcome(report, task, after)


def read_states(srt: SunoRuntime, channel_id: str, tasks: list[Task]) -> dict[str, StateUpdate] | None:
    """One channel's news of ``tasks`` by task id (``tollway.tasks.reads.ReadStates``); None: unreadable now."""
    try:
        by_id, secret = _items_by_id(srt, channel_id, tasks)
    except UpstreamDown:
        return None
    news = {t.task_id: state_of(by_id.get(t.upstream_id or ""), secret=secret) for t in tasks}
    return {task_id: update for task_id, update in news.items() if update is not None}


def refresh(srt: SunoRuntime, tasks: list[Task], now: int) -> tuple[list[Task], list[Task]]:
    """Refresh the stale unfinished tasks among ``tasks`` (``tollway.tasks.reads.refresh``)."""
    return refresh_tasks(srt, functools.partial(read_states, srt), tasks, now)
