"""A Midjourney task as tollway keeps it, and the order its states may move in.

A task only moves forward. Its *rank* orders states: ``NOT_START < SUBMITTED < MODAL < IN_PROGRESS
(by progress) < terminal``; an update is applied only if its rank is higher than the stored one, so
duplicated, late or replayed news (a callback, a poll, a fetch) can never move a task back, and the
first terminal state wins. Confirming a MODAL task (``/mj/submit/modal``) sets it to SUBMITTED but
keeps the MODAL rank, so a late MODAL report cannot re-open it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "TERMINAL",
    "ImageMode",
    "Mode",
    "Phase",
    "StateUpdate",
    "Task",
    "TaskStatus",
    "progress_percent",
    "rank_of",
]


class TaskStatus(StrEnum):
    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    MODAL = "MODAL"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCEL = "CANCEL"


TERMINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCEL})
_STATUS_RANK = {
    TaskStatus.NOT_START: 0,
    TaskStatus.SUBMITTED: 1,
    TaskStatus.MODAL: 2,
    TaskStatus.IN_PROGRESS: 3,
}
TERMINAL_RANK = 4100
_PERCENT = re.compile(r"^\s*(\d{1,3})(?:\.\d+)?\s*%?\s*$")


class Mode(StrEnum):
    """The speed a task runs (and is priced) at."""

    FAST = "fast"
    RELAX = "relax"
    TURBO = "turbo"


class ImageMode(StrEnum):
    """How image URLs reach the client: tollway's copy, the upstream's URL, or a proxy host."""

    RELAY = "relay"
    ORIGIN = "origin"
    PROXY = "proxy"


class Phase(StrEnum):
    PENDING = "pending"  # reserved and being submitted; not yet accepted upstream
    ACCEPTED = "accepted"  # the upstream took it and the charge is settled


def progress_percent(progress: str) -> int:
    """``"42%"`` → 42 (0 when absent or unreadable; capped at 100)."""
    match = _PERCENT.match(progress or "")
    return min(int(match.group(1)), 100) if match else 0


def rank_of(status: TaskStatus, progress: str = "") -> int:
    """The state's place in the forward-only order."""
    if status in TERMINAL:
        return TERMINAL_RANK
    base = _STATUS_RANK[status] * 1000
    return base + progress_percent(progress) if status is TaskStatus.IN_PROGRESS else base


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """News about a task: its status, progress and the upstream-derived fields clients read."""

    status: TaskStatus
    progress: str
    view: dict[str, Any]

    @property
    def rank(self) -> int:
        return rank_of(self.status, self.progress)


@dataclass(frozen=True, slots=True)
class Task:
    """One task. Times are epoch ms; money is micro-USD."""

    task_id: str
    account_id: str
    key_id: str
    key_hash: str
    key_limited: bool
    hold_id: str  # the submit's request id: its usage record and its hold
    channel_id: str
    action: str
    price_key: str
    mode: Mode
    image_mode: ImageMode
    price: int  # what the accepted submit is charged
    created_at: int
    phase: Phase = Phase.PENDING
    upstream_id: str | None = None
    charge: int = 0  # what was actually charged (set when accepted)
    status: TaskStatus = TaskStatus.NOT_START
    progress: str = "0%"
    rank: int = 0
    prompt: str = ""
    state: str = ""  # the client's own ``state``, echoed
    custom_id: str = ""
    bot_type: str = ""
    parent_id: str | None = None
    parent_upstream_id: str | None = None
    public_base: str | None = None  # tollway's public URL when the task was submitted
    view: dict[str, Any] = field(default_factory=dict)
    updated_at: int = 0
    refunded_at: int | None = None
    notify_hook: str | None = None
    hook_rank: int = -1  # the rank last delivered to the notifyHook
    hook_attempts: int = 0
    hook_next_at: int = 0
    hook_error: str | None = None
    image_key: str | None = None  # the relay-mode copy in the image store
    image_error: str | None = None
    open: bool = True  # still needs attention (state, refund, hook or image copy)
    # The protocol the task belongs to: "mj", or "suno" (tollway.suno). The store, the engine and the
    # refund are shared; the sweep polls each kind with its own upstream client (tollway.mj.sweep).
    kind: str = "mj"

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def failed(self) -> bool:
        return self.status in (TaskStatus.FAILURE, TaskStatus.CANCEL)

    @property
    def refund_due(self) -> bool:
        """Charged for a task that failed, was cancelled or timed out, and not yet refunded."""
        return self.phase is Phase.ACCEPTED and self.failed and self.charge > 0 and self.refunded_at is None

    def replace(self, **changes: Any) -> Task:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The whole task (operator views and the stores' serialisation)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, StrEnum) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["mode"] = Mode(kwargs["mode"])
        kwargs["image_mode"] = ImageMode(kwargs["image_mode"])
        kwargs["phase"] = Phase(kwargs.get("phase", Phase.PENDING.value))
        kwargs["status"] = TaskStatus(kwargs.get("status", TaskStatus.NOT_START.value))
        return cls(**kwargs)
