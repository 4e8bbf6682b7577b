"""The Suno-API protocol (``/suno/...``, any prefix), deterministically, as new-api's Suno channel calls it.

- ``POST …/suno/submit/{MUSIC|LYRICS}`` (any case) → ``{"code": "success", "message": "", "data": "<id>"}``;
  errors are ``{"code", "message", "data": null}`` with a 4xx (unknown action, LYRICS without prompt,
  ``continue_clip_id`` without ``task_id``, a ``task_id`` this mock never issued);
- ``POST …/suno/fetch {"ids": [...]}`` → ``{"code": "success", "data": [task, ...]}`` (unknown ids left out);
  ``GET …/suno/fetch/<id>`` → ``{"code": "success", "data": task}``.

A task is ``{task_id, action, status, fail_reason, submit_time, start_time, finish_time, data}`` (times in
epoch seconds). It moves **one step each time it is read** (by either fetch), never with the clock, so a
test knows exactly what the next read returns: ``NOT_START`` (before any read) → ``SUBMITTED`` →
``IN_PROGRESS`` (``steps`` reads) → ``SUCCESS`` or ``FAILURE``, which then stays. A MUSIC task's ``data`` is
two clips (``submitted`` → ``streaming`` → ``complete`` with ``audio_url``, ``video_url``, ``image_url``,
``duration``…, or ``error``); a LYRICS task's is ``{id, status, title, text}`` whose ``id`` is the task id,
as Suno-API does. Clips carry the upstream account's ``user_id``/``display_name``/``handle``, which a relay
must not pass on.

Markers in ``prompt``, ``gpt_description_prompt``, ``title`` or ``tags``:

| marker | effect |
|---|---|
| ``[[suno:fail]]`` or the word ``mockfail`` | the task ends in FAILURE (``fail_reason`` set, clips ``error``) |
| ``[[suno:stuck]]`` | the task stays IN_PROGRESS forever |
| ``[[suno:steps=N]]`` | N reads in IN_PROGRESS (default 1) |
| ``[[suno:reject=N]]`` | the submit answers HTTP N (a number) with an error, or HTTP 200 with ``code`` N (a word) |

Test control (not part of the protocol): ``GET …/suno/_mock/tasks`` lists every task with the body it was
submitted with and how often it was read, without reading (moving) any.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.context import Endpoint
from tollway_local.mock.endpoints.task_script import TaskScript
from tollway_local.mock.responses import JSONResult, response_headers, send_whole

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp, Receive, Scope, Send

    from tollway_local.mock.context import MockRequest

__all__ = ["ENDPOINTS", "SunoMockStore", "SunoMockTask", "script_of"]

_MARKER = re.compile(r"\[\[suno:([a-z_]+)(?:=([a-z0-9_]+))?\]\]")
_TEXTS = ("prompt", "gpt_description_prompt", "title", "tags")
FAIL_REASON = "mock failure on a trigger word"


@dataclass
class Script(TaskScript):
    reject: str | None = None


def script_of(text: str) -> Script:
    script = Script(fail="mockfail" in text.lower())
    for name, value in _MARKER.findall(text):
        if not script.apply(name, value) and name == "reject" and value:
            script.reject = value
    return script


def _now() -> int:
    return int(time.time())


@dataclass
class SunoMockTask:
    id: str
    action: str
    body: dict[str, Any]
    script: Script
    base: str
    submit_time: int
    status: str = "NOT_START"
    reads: int = 0
    start_time: int = 0
    finish_time: int = 0
    fail_reason: str = ""
    history: list[str] = field(default_factory=list)

    def stages(self) -> list[str]:
        final = [] if self.script.stuck else ["FAILURE" if self.script.fail else "SUCCESS"]
        return ["SUBMITTED", *(["IN_PROGRESS"] * self.script.steps), *final]

    def advance(self) -> None:
        """One read: the next stage (a finished or stuck task stays where it is)."""
        stages = self.stages()
        self.reads += 1
        self.status = stages[min(self.reads, len(stages)) - 1]
        self.history.append(self.status)
        if self.status == "IN_PROGRESS" and not self.start_time:
            self.start_time = _now()
        if self.status in ("SUCCESS", "FAILURE") and not self.finish_time:
            self.finish_time = _now()
            self.fail_reason = FAIL_REASON if self.status == "FAILURE" else ""

    def _text(self, name: str) -> str:
        value = self.body.get(name)
        return value if isinstance(value, str) else ""

    def _clip(self, index: int) -> dict[str, Any]:
        clip_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"suno-mock/{self.id}/{index}"))
        state = {"NOT_START": "submitted", "SUBMITTED": "submitted", "IN_PROGRESS": "streaming"}.get(
            self.status, "complete" if self.status == "SUCCESS" else "error"
        )
        running = state in ("streaming", "complete")
        mv = self._text("mv") or "chirp-v3-0"
        history = []
        if self._text("continue_clip_id"):
            history = [
                {"id": self._text("continue_clip_id"), "continue_at": self.body.get("continue_at"), "type": "gen"}
            ]
        return {
            "id": clip_id,
            "title": self._text("title") or f"Mock song {index + 1}",
            "status": state,
            "audio_url": f"{self.base}/suno/_mock/audio/{clip_id}.mp3" + ("" if state == "complete" else "?stream=1")
            if running
            else "",
            "video_url": f"{self.base}/suno/_mock/video/{clip_id}.mp4" if state == "complete" else "",
            "image_url": f"{self.base}/suno/_mock/image/{clip_id}.png" if running else "",
            "image_large_url": f"{self.base}/suno/_mock/image/{clip_id}-large.png" if running else "",
            "is_video_pending": state == "streaming",
            "model_name": mv,
            "major_model_version": mv.removeprefix("chirp-").split("-")[0],
            "created_at": datetime.fromtimestamp(self.submit_time, UTC).isoformat(),
            # The upstream account's identity, as Suno-API passes it on: a relay must filter it.
            "user_id": "mock-suno-user",
            "display_name": "Mock Suno Account",
            "handle": "mock_suno_account",
            "play_count": 0,
            "metadata": {
                "tags": self._text("tags"),
                "prompt": self._text("prompt"),
                "gpt_description_prompt": self._text("gpt_description_prompt") or None,
                "type": "gen",
                "duration": 120.0 + 7.5 * index if state == "complete" else None,
                "stream": True,
                "history": history or None,
                "error_type": "moderation" if state == "error" else None,
                "error_message": FAIL_REASON if state == "error" else None,
            },
        }

    def data(self) -> Any:
        if self.action == "LYRICS":
            lyrics_state = {"SUCCESS": "complete", "FAILURE": "error"}.get(self.status, "running")
            done = self.status == "SUCCESS"
            prompt = self._text("prompt")
            text = f"[Verse]\n{prompt}\n\n[Chorus]\nla la la, {len(prompt)} letters long" if done else ""
            return {"id": self.id, "status": lyrics_state, "title": "Mock lyrics" if done else "", "text": text}
        return [self._clip(0), self._clip(1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.id,
            "action": self.action,
            "status": self.status,
            "fail_reason": self.fail_reason,
            "submit_time": self.submit_time,
            "start_time": self.start_time,
            "finish_time": self.finish_time,
            "data": self.data(),
        }


class SunoMockStore:
    """The Suno tasks of one mock server."""

    def __init__(self) -> None:
        self.tasks: dict[str, SunoMockTask] = {}


_STORES: dict[str, SunoMockStore] = {}


def store_of(req: MockRequest) -> SunoMockStore:
    return _STORES.setdefault(req.stats.instance, SunoMockStore())


class _Answer:
    """A JSON answer with any status (Suno errors are 4xx/5xx with the ``{code, message, data}`` body)."""

    def __init__(self, req: MockRequest, status: int, payload: Any) -> None:
        self.req, self.status, self.payload = req, status, payload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self.req.record
        record.status, record.outcome = self.status, "completed"
        headers = response_headers(record, self.req.config, b"application/json")
        await send_whole(send, self.status, headers, orjson.dumps(self.payload))


def _error(req: MockRequest, status: int, message: str, code: str = "invalid_request") -> ASGIApp:
    return _Answer(req, status, {"code": code, "message": message, "data": None})


def _success(req: MockRequest, data: Any) -> ASGIApp:
    return JSONResult(req, {"code": "success", "message": "", "data": data}, delay_s=req.pacing.latency_s)


def fault_texts(body: Any) -> Iterable[str]:
    """``[[fault:MODE]]`` markers are read from the text fields."""
    if not isinstance(body, dict):
        return []
    return [body[name] for name in _TEXTS if isinstance(body.get(name), str)]


async def submit(req: MockRequest) -> ASGIApp:
    body: dict[str, Any] = req.body
    action = req.path.rstrip("/").rsplit("/", 1)[-1].upper()
    if action not in ("MUSIC", "LYRICS"):
        return _error(req, 400, "invalid action")
    store = store_of(req)
    script = script_of(" ".join(fault_texts(body)))
    if script.reject is not None:
        if script.reject.isdigit():
            status = int(script.reject)
            return _error(req, status, "rejected by the mock upstream", "invalid_request" if status < 500 else "error")
        return _Answer(req, 200, {"code": script.reject, "message": "rejected by the mock upstream", "data": None})
    if action == "LYRICS" and not body.get("prompt"):
        return _error(req, 400, "prompt is empty")
    task_id = body.get("task_id")
    if body.get("continue_clip_id") and not task_id:
        return _error(req, 400, "task_id is empty")
    if task_id and str(task_id) not in store.tasks:
        return _error(req, 400, "task_id not found")  # stricter than Suno-API: proves the relay maps ids
    task = SunoMockTask(
        id=str(uuid.uuid4()),
        action=action,
        body=dict(body),
        script=script,
        base=f"http://{req.headers.get('host', '127.0.0.1')}",
        submit_time=_now(),
    )
    store.tasks[task.id] = task
    return _success(req, task.id)


async def fetch_many(req: MockRequest) -> ASGIApp:
    ids = req.body.get("ids")
    if ids is None:
        ids = []
    if not isinstance(ids, list):
        return _error(req, 400, "ids must be a list")
    tasks = store_of(req).tasks
    found: list[dict[str, Any]] = []
    for raw in dict.fromkeys(str(i) for i in ids):
        task = tasks.get(raw)
        if task is not None:
            task.advance()
            found.append(task.to_json())
    return _success(req, found)


async def fetch_one(req: MockRequest) -> ASGIApp:
    task = store_of(req).tasks.get(req.path.rstrip("/").rsplit("/", 1)[-1])
    if task is None:
        return _error(req, 400, "task not exist")
    task.advance()
    return _success(req, task.to_json())


async def list_mock_tasks(req: MockRequest) -> ASGIApp:
    tasks = [
        {**t.to_json(), "received": t.body, "reads": t.reads, "history": t.history}
        for t in store_of(req).tasks.values()
    ]
    return JSONResult(req, {"tasks": tasks})


_POST = frozenset({"POST"})
_GET = frozenset({"GET"})

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/suno/submit/{action}", _POST, submit, fault_texts=fault_texts, pattern=re.compile(r"/suno/submit/[^/]+$")
    ),
    Endpoint("/suno/fetch", _POST, fetch_many),
    Endpoint("/suno/fetch/{id}", _GET, fetch_one, json_body=False, pattern=re.compile(r"/suno/fetch/[^/]+$")),
    Endpoint("/suno/_mock/tasks", _GET, list_mock_tasks, json_body=False),
)
