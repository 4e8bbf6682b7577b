"""The Midjourney-Proxy protocol (``/mj/...``, any prefix such as ``/mj-fast/mj/...``), deterministically.

A submit creates a task that moves ``SUBMITTED → IN_PROGRESS (progress steps, preview image) →
SUCCESS`` (a real small PNG and the Plus buttons) — or ``FAILURE`` — one step every ``step_ms``
(default: the mock's latency), and after each step POSTs the task JSON to the ``notifyHook`` it was
given, as midjourney-proxy does. Fetch, list-by-condition and image-seed answer from the same tasks.

Markers in the prompt (children of a task inherit its prompt, so its markers too):

| marker | effect |
|---|---|
| ``[[mj:fail]]`` or the word ``mockfail`` | the task ends in FAILURE |
| ``[[mj:stuck]]`` | the task stops IN_PROGRESS and never finishes |
| ``[[mj:steps=N]]`` | N progress steps (default 2) |
| ``[[mj:step_ms=N]]`` | N ms between steps |
| ``[[mj:callbacks=dup]]`` / ``=reverse`` / ``=none`` | every callback twice / all at the end, last first / none |
| ``[[mj:reject=N]]`` | the submit answers envelope code N (24: banned prompt) and creates nothing |
| ``[[mj:queue]]`` | the submit answers code 22 (queued) |

Test controls (not part of the protocol): ``POST …/mj/_mock/callbacks {"id", "times"}`` sends a task's
latest state to its hook again ``times`` times; ``GET …/mj/_mock/tasks`` lists the tasks with the
callbacks they sent. An unknown id is fetched as an empty 200, as the original proxy answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx2

from tollway_local.mock.context import Endpoint
from tollway_local.mock.endpoints.task_script import TaskScript
from tollway_local.mock.responses import JSONResult, response_headers, send_whole

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp, Receive, Scope, Send

    from tollway_local.mock.context import MockRequest

_MARKER = re.compile(r"\[\[mj:([a-z_]+)(?:=([a-z0-9_]+))?\]\]")
_MODE_PREFIX = re.compile(r"/mj-(fast|relax|turbo)(?:-[a-z]+)?/mj/")
_MODAL_BUTTONS = ("MJ::CustomZoom::", "MJ::Inpaint::")


@dataclass
class Script(TaskScript):
    steps: int = 2
    step_s: float = 0.0
    callbacks: str = "normal"
    reject: int | None = None
    queue: bool = False


def script_of(prompt: str, default_step_s: float) -> Script:
    script = Script(step_s=default_step_s, fail="mockfail" in prompt.lower())
    for name, value in _MARKER.findall(prompt):
        if script.apply(name, value):
            continue
        if name == "step_ms" and value.isdigit():
            script.step_s = int(value) / 1000
        elif name == "callbacks" and value in ("dup", "reverse", "none"):
            script.callbacks = value
        elif name == "reject" and value.isdigit():
            script.reject = int(value)
        elif name == "queue":
            script.queue = True
    return script


@dataclass
class MockTask:
    id: str
    action: str
    prompt: str
    base: str
    script: Script
    submit_time: int
    notify_hook: str | None = None
    state: str = ""
    custom_id: str = ""
    mode: str = ""
    status: str = "NOT_START"
    progress: str = "0%"
    start_time: int = 0
    finish_time: int = 0
    image_url: str = ""
    fail_reason: str = ""
    description: str = ""
    buttons: list[dict[str, Any]] = field(default_factory=list)
    final_prompt: str = ""
    callbacks_sent: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The task as the Plus proxy serialises it — internal fields included, as a relay must filter them."""
        return {
            "id": self.id,
            "action": self.action,
            "customId": self.custom_id,
            "botType": "MID_JOURNEY",
            "prompt": self.prompt,
            "promptEn": self.prompt,
            "description": self.description,
            "state": self.state,
            "submitTime": self.submit_time,
            "startTime": self.start_time,
            "finishTime": self.finish_time,
            "imageUrl": self.image_url,
            "status": self.status,
            "progress": self.progress,
            "failReason": self.fail_reason,
            "buttons": self.buttons,
            "mode": self.mode.upper(),
            "clientIp": "10.0.0.7",
            "userId": "mock-user",
            "properties": {
                "finalPrompt": self.final_prompt or self.prompt,
                "discordInstanceId": "mock-instance",
                "notifyHook": self.notify_hook,
                "nonce": f"nonce-{self.id}",
            },
        }


class MjMockStore:
    """The tasks of one mock server, and the background work that moves them."""

    def __init__(self) -> None:
        self.tasks: dict[str, MockTask] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._counter = 0

    def new_id(self) -> str:
        self._counter += 1
        return f"{int(time.time() * 1000)}{self._counter % 1000:03d}"

    def spawn(self, coroutine: Any) -> None:
        job = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def post(self, task: MockTask, snapshot: dict[str, Any]) -> None:
        if not task.notify_hook:
            return
        entry: dict[str, Any] = {"status": snapshot["status"], "progress": snapshot["progress"]}
        try:
            # A client per callback: nothing stays open when the server stops (as the proxy's pool would).
            async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as client:
                response = await client.post(task.notify_hook, json=snapshot)
            entry["http_status"] = response.status_code
        except httpx2.HTTPError as exc:
            entry["error"] = type(exc).__name__
        task.callbacks_sent.append(entry)

    async def run(self, task: MockTask) -> None:
        """Move a task to its end, calling back after every step."""
        script = task.script
        pending: list[dict[str, Any]] = []

        async def report() -> None:
            snapshot = task.to_json()
            if script.callbacks == "none":
                return
            if script.callbacks == "reverse":
                pending.append(snapshot)
                return
            await self.post(task, snapshot)
            if script.callbacks == "dup":
                await self.post(task, snapshot)

        await asyncio.sleep(script.step_s)
        task.status, task.start_time = "SUBMITTED", _now()
        await report()
        for step in range(1, script.steps):
            await asyncio.sleep(script.step_s)
            percent = step * 100 // script.steps
            task.status, task.progress = "IN_PROGRESS", f"{percent}%"
            task.image_url = f"{task.base}/mj/_mock/image/{task.id}-p{percent}.png"
            await report()
        if not script.stuck:
            await asyncio.sleep(script.step_s)
            _finish(task)
            await report()
        for snapshot in reversed(pending):
            await self.post(task, snapshot)


def _finish(task: MockTask) -> None:
    task.finish_time = _now()
    if task.script.fail:
        task.status, task.progress = "FAILURE", ""
        task.fail_reason = "[Banned prompt] mock failure on a trigger word"
        task.image_url = ""
        return
    task.status, task.progress = "SUCCESS", "100%"
    task.image_url = f"{task.base}/mj/_mock/image/{task.id}.png"
    task.buttons = _buttons(task)


def _now() -> int:
    return int(time.time() * 1000)


def _buttons(task: MockTask) -> list[dict[str, Any]]:
    digest = hashlib.sha1(task.id.encode()).hexdigest()  # noqa: S324 - a fake Discord hash, not security
    job = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def button(custom_id: str, label: str, emoji: str = "") -> dict[str, Any]:
        return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}

    if task.action in ("UPSCALE",):
        return [
            button(f"MJ::JOB::upsample_v6_2x_subtle::1::{job}::SOLO", "Upscale (Subtle)"),
            button(f"MJ::JOB::high_variation::1::{job}::SOLO", "Vary (Strong)", "🪄"),
            button(f"MJ::JOB::low_variation::1::{job}::SOLO", "Vary (Subtle)", "🪄"),
            button(f"MJ::Inpaint::1::{job}::SOLO", "Vary (Region)", "🖌️"),
            button(f"MJ::Outpaint::50::1::{job}::SOLO", "Zoom Out 2x", "🔍"),
            button(f"MJ::CustomZoom::{job}", "Custom Zoom", "🔍"),
            button(f"MJ::JOB::pan_left::1::{job}::SOLO", "", "⬅️"),
        ]
    if task.action in ("DESCRIBE", "SHORTEN", "SWAP_FACE", "VIDEO"):
        return []
    grid = [button(f"MJ::JOB::upsample::{i}::{job}", f"U{i}") for i in range(1, 5)]
    grid.append(button(f"MJ::JOB::reroll::0::{job}::SOLO", "", "🔄"))
    grid += [button(f"MJ::JOB::variation::{i}::{job}", f"V{i}") for i in range(1, 5)]
    return grid


def png(name: str, size: int = 64) -> bytes:
    """A small solid-colour PNG whose colour follows from ``name`` (a real, decodable image)."""
    rgb = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + rgb * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


_STORES: dict[str, MjMockStore] = {}


def store_of(req: MockRequest) -> MjMockStore:
    """The store of the mock server this request reached (one per server instance)."""
    return _STORES.setdefault(req.stats.instance, MjMockStore())


def _envelope(code: int, description: str, result: Any = None, **properties: Any) -> dict[str, Any]:
    return {"code": code, "description": description, "result": result, "properties": properties}


def fault_texts(body: Any) -> Iterable[str]:
    """``[[fault:MODE]]`` markers are read from the prompt."""
    prompt = body.get("prompt") if isinstance(body, dict) else None
    return [prompt] if isinstance(prompt, str) else []


def _base(req: MockRequest) -> str:
    return f"http://{req.headers.get('host', '127.0.0.1')}"


def _task_of(req: MockRequest, body: dict[str, Any]) -> MockTask | None:
    return store_of(req).tasks.get(str(body.get("taskId", "")))


def _action_of(custom_id: str) -> str:
    parts = custom_id.split("::")
    name = parts[2] if len(parts) > 2 and parts[1] == "JOB" else (parts[1] if len(parts) > 1 else "")
    if name == "upsample":
        return "UPSCALE"
    if "upsample" in name:
        return "UPSCALE_HD"
    if "variation" in name:
        return "VARIATION"
    if name.startswith("pan_"):
        return "PAN"
    return {"reroll": "REROLL", "Outpaint": "ZOOM", "CustomZoom": "ZOOM", "Inpaint": "INPAINT"}.get(name, "IMAGINE")


def _plan(route: str, body: dict[str, Any], req: MockRequest) -> tuple[str, str, dict[str, Any] | None]:
    """(action, prompt, error envelope) of a submit."""
    raw_prompt = body.get("prompt")
    prompt = raw_prompt if isinstance(raw_prompt, str) else ""
    if route in ("/submit/imagine", "/submit/shorten", "/submit/edits", "/submit/edit", "/submit/video"):
        if not prompt and not (route == "/submit/video" and body.get("action") == "extend"):
            return "", "", _envelope(4, "prompt不能为空")
        action = {"/submit/imagine": "IMAGINE", "/submit/shorten": "SHORTEN", "/submit/video": "VIDEO"}.get(
            route, "EDITS"
        )
        return action, prompt, None
    if route in ("/submit/describe", "/submit/blend", "/insight-face/swap", "/submit/upload-discord-images"):
        kinds = {"/submit/describe": "DESCRIBE", "/submit/blend": "BLEND", "/insight-face/swap": "SWAP_FACE"}
        return kinds.get(route, "UPLOAD"), "", None
    parent = _task_of(req, body)
    if parent is None:
        return "", "", _envelope(3, "关联任务不存在或已失效")
    if route == "/submit/modal":
        return "MODAL", prompt or parent.prompt, None if parent.status == "MODAL" else _envelope(4, "关联任务状态错误")
    if parent.status != "SUCCESS":
        return "", "", _envelope(4, "关联任务状态错误")
    if route == "/submit/action":
        return _action_of(str(body.get("customId", ""))), parent.prompt, None
    return str(body.get("action", "UPSCALE")).upper(), parent.prompt, None


async def submit(req: MockRequest) -> ASGIApp:
    body: dict[str, Any] = req.body
    route = req.record.endpoint or ""
    store = store_of(req)
    action, prompt, error = _plan(route, body, req)
    if error is not None:
        return JSONResult(req, error, delay_s=req.pacing.latency_s)
    script = script_of(prompt, req.pacing.latency_s)
    if script.reject is not None:
        return JSONResult(req, _envelope(script.reject, "可能包含敏感词" if script.reject == 24 else "rejected"))
    if route == "/submit/upload-discord-images":
        images = body.get("base64Array") or []
        urls = [f"{_base(req)}/mj/_mock/image/upload-{store.new_id()}-{i}.png" for i in range(len(images))]
        return JSONResult(req, _envelope(1, "提交成功", urls))
    hook = body.get("notifyHook") if isinstance(body.get("notifyHook"), str) else None
    if route == "/submit/modal":
        task = store.tasks[str(body["taskId"])]
        task.prompt = prompt
        task.status, task.description = "SUBMITTED", f"/imagine {prompt}"
        store.spawn(store.run(task))
        return JSONResult(req, _envelope(1, "提交成功", task.id, discordInstanceId="mock-instance"))
    mode = _MODE_PREFIX.search(req.path)
    task = MockTask(
        id=store.new_id(),
        action=action,
        prompt=prompt,
        base=_base(req),
        script=script,
        submit_time=_now(),
        notify_hook=hook or None,
        state=str(body.get("state") or ""),
        custom_id=str(body.get("customId") or ""),
        mode=mode.group(1) if mode else "fast",
        description=f"/{action.lower()} {prompt}".strip(),
    )
    store.tasks[task.id] = task
    if route == "/submit/action" and task.custom_id.startswith(_MODAL_BUTTONS):
        # The Plus proxy waits for /submit/modal (the region or the zoom) before it starts.
        task.status, task.description, task.final_prompt = "MODAL", "Waiting for window confirm", prompt
        return JSONResult(req, _envelope(21, "Waiting for window confirm", task.id, finalPrompt=prompt, remix=True))
    if task.action in ("DESCRIBE", "SHORTEN"):
        task.final_prompt = "1️⃣ a mock prompt --ar 1:1\n\n2️⃣ another mock prompt --ar 4:3"
    store.spawn(store.run(task))
    if script.queue:
        return JSONResult(req, _envelope(22, "排队中，前面还有1个任务", task.id, numberOfQueues=1))
    return JSONResult(req, _envelope(1, "提交成功", task.id, discordInstanceId="mock-instance"))


def _id_before(path: str, suffix: str) -> str:
    parts = path.rstrip("/").removesuffix(suffix).rstrip("/").split("/")
    return parts[-1] if parts else ""


class _Raw:
    """A 200 answer with a given body and type (an image, or the empty body of an unknown fetch)."""

    def __init__(self, req: MockRequest, body: bytes, content_type: bytes) -> None:
        self.req, self.body, self.content_type = req, body, content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self.req.record
        record.status, record.outcome = 200, "completed"
        await send_whole(send, 200, response_headers(record, self.req.config, self.content_type), self.body)


async def fetch(req: MockRequest) -> ASGIApp:
    task = store_of(req).tasks.get(_id_before(req.path, "/fetch"))
    if task is None:
        return _Raw(req, b"", b"application/json")
    return JSONResult(req, task.to_json())


async def list_by_condition(req: MockRequest) -> ASGIApp:
    ids = req.body.get("ids") if isinstance(req.body.get("ids"), list) else []
    tasks = store_of(req).tasks
    return JSONResult(req, [tasks[str(i)].to_json() for i in ids if str(i) in tasks])


async def image_seed(req: MockRequest) -> ASGIApp:
    task = store_of(req).tasks.get(_id_before(req.path, "/image-seed"))
    if task is None or task.status != "SUCCESS":
        return JSONResult(req, _envelope(4, "任务不存在或未完成"))
    seed = int(hashlib.sha256(task.id.encode()).hexdigest()[:8], 16)
    return JSONResult(req, _envelope(1, "成功", str(seed)))


async def image(req: MockRequest) -> ASGIApp:
    name = req.path.rsplit("/", 1)[-1].removesuffix(".png")
    return _Raw(req, png(name), b"image/png")


async def replay_callbacks(req: MockRequest) -> ASGIApp:
    store = store_of(req)
    task = store.tasks.get(str(req.body.get("id", "")))
    if task is None:
        return JSONResult(req, {"sent": []})
    times = int(req.body.get("times", 1))
    before = len(task.callbacks_sent)
    for _ in range(times):
        await store.post(task, task.to_json())
    return JSONResult(req, {"sent": task.callbacks_sent[before:]})


async def list_mock_tasks(req: MockRequest) -> ASGIApp:
    tasks = [{**t.to_json(), "callbacks_sent": t.callbacks_sent} for t in store_of(req).tasks.values()]
    return JSONResult(req, {"tasks": tasks})


_SUBMITS = (
    "/submit/imagine",
    "/submit/change",
    "/submit/simple-change",
    "/submit/describe",
    "/submit/blend",
    "/submit/shorten",
    "/submit/action",
    "/submit/modal",
    "/submit/upload-discord-images",
    "/submit/video",
    "/submit/edits",
    "/submit/edit",
    "/insight-face/swap",
)
_POST = frozenset({"POST"})
_GET = frozenset({"GET"})

ENDPOINTS: tuple[Endpoint, ...] = (
    *(Endpoint(suffix, _POST, submit, fault_texts=fault_texts) for suffix in _SUBMITS),
    Endpoint("/fetch", _GET, fetch, json_body=False),
    Endpoint("/image-seed", _GET, image_seed, json_body=False),
    Endpoint("/task/list-by-condition", _POST, list_by_condition),
    Endpoint("/task/list-by-ids", _POST, list_by_condition),
    Endpoint(".png", _GET, image, json_body=False),
    Endpoint("/mj/_mock/callbacks", _POST, replay_callbacks),
    Endpoint("/mj/_mock/tasks", _GET, list_mock_tasks, json_body=False),
)

__all__ = ["ENDPOINTS", "MjMockStore", "png", "script_of"]
