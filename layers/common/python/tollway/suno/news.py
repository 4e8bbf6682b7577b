"""Reading an upstream Suno task (an item of ``POST /suno/fetch``) as a state update.

Statuses map onto the shared forward-only order: ``NOT_START < SUBMITTED = QUEUED < IN_PROGRESS``
(ranked by a progress derived from the clips) ``< SUCCESS = FAILURE``. As new-api does, an unfinished
task with a ``fail_reason`` has failed. ``UNKNOWN`` (and anything unreadable) is no news: the task's
timeout settles it.

Only what clients read is kept in the task's view — the upstream status, ``fail_reason``, times and
``data`` — and ``data`` keeps only the clip and lyrics fields of the protocol: the upstream account's
identity (``user_id``, ``display_name``, ``handle``…) never reaches a client, nor does the channel key.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.mj.model import StateUpdate, TaskStatus

__all__ = ["CLIP_FIELDS", "LYRICS_FIELDS", "clean_data", "state_of"]

_STATUSES = {
    "NOT_START": TaskStatus.NOT_START,
    "SUBMITTED": TaskStatus.SUBMITTED,
    "QUEUED": TaskStatus.SUBMITTED,  # queued after submission: the same rank (no rank between them)
    "IN_PROGRESS": TaskStatus.IN_PROGRESS,
    "SUCCESS": TaskStatus.SUCCESS,
    "FAILURE": TaskStatus.FAILURE,
}
CLIP_FIELDS = (
    "id",
    "title",
    "status",
    "audio_url",
    "video_url",
    "image_url",
    "image_large_url",
    "is_video_pending",
    "model_name",
    "major_model_version",
    "created_at",
    "metadata",
)
LYRICS_FIELDS = ("id", "status", "title", "text")
#: A clip's own status → how far it is (the task's progress is the clips' mean).
_CLIP_PERCENT = {"submitted": 0, "queued": 10, "streaming": 50, "complete": 100, "error": 100}
#: Above this, clip metadata is dropped: a task item must stay far below DynamoDB's 400 KB.
_MAX_DATA_BYTES = 100_000


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seconds(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _scrubbed(value: Any, secret: str | None) -> Any:
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, list):
        return [_scrubbed(v, secret) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v, secret) for k, v in value.items()}
    return value


def clean_data(data: Any) -> Any:
    """The protocol's fields of ``data``: clips (MUSIC) or lyrics (LYRICS); None for anything else."""
    if isinstance(data, list):
        clips = [{k: clip[k] for k in CLIP_FIELDS if k in clip} for clip in data if isinstance(clip, dict)]
        if len(orjson.dumps(clips)) > _MAX_DATA_BYTES:
            clips = [{k: v for k, v in clip.items() if k != "metadata"} for clip in clips]
        return clips
    if isinstance(data, dict):
        lyrics = {k: data[k] for k in LYRICS_FIELDS if k in data}
        text = lyrics.get("text")
        if isinstance(text, str) and len(text) > _MAX_DATA_BYTES // 2:
            lyrics["text"] = text[: _MAX_DATA_BYTES // 2]
        return lyrics
    return None


def _progress(status: TaskStatus, data: Any) -> str:
    if status in (TaskStatus.SUCCESS, TaskStatus.FAILURE):
        return "100%"
    if status is not TaskStatus.IN_PROGRESS:
        return "0%"
    stages = [_CLIP_PERCENT.get(_text(clip.get("status")).lower(), 0) for clip in data or [] if isinstance(clip, dict)]
    percent = sum(stages) // len(stages) if stages else 50
    return f"{min(max(percent, 1), 99)}%"  # running: above 0, below done


def state_of(raw: Any, *, secret: str | None = None) -> StateUpdate | None:
    """The update an upstream task describes, or None if it says nothing usable.

    ``secret`` (the channel key) is blanked out of everything kept, should an upstream echo it.
    """
    if not isinstance(raw, dict):
        return None
    upstream_status = _text(raw.get("status")).upper() or "NOT_START"
    status = _STATUSES.get(upstream_status)
    if status is None:
        return None  # UNKNOWN or unreadable
    fail_reason = _text(raw.get("fail_reason"))
    if status is not TaskStatus.SUCCESS and fail_reason:
        status, upstream_status = TaskStatus.FAILURE, "FAILURE"  # new-api's rule
    data = clean_data(raw.get("data"))
    view: dict[str, Any] = {"status": upstream_status}
    if fail_reason:
        view["fail_reason"] = fail_reason[:2000]
    for name in ("start_time", "finish_time"):
        if seconds := _seconds(raw.get(name)):
            view[name] = seconds
    if data not in (None, [], {}):
        view["data"] = data
    return StateUpdate(status=status, progress=_progress(status, data), view=_scrubbed(view, secret))
