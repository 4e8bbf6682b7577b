"""The Midjourney integration fixtures: a local stack of its own (its SSRF allow-list names this
session's webhook receiver, which must be listening before the stack starts), webhook receivers on
loopback, and per test a group, a customer, a mock MJ-Proxy upstream and its channel."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack, wait_until
from tests.support.task_world import TaskWorld, make_task_world, task_stack, task_world


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records every request; answers scripted statuses per path."""

    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    final_scripts: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def hook(self, *statuses: int, final: tuple[int, ...] = ()) -> str:
        """A fresh path that answers ``statuses`` in turn, then 200; deliveries of a finished task
        (status SUCCESS/FAILURE) answer ``final`` in turn first."""
        path = f"/hook/{uuid.uuid4().hex}"
        self.scripts[path] = list(statuses)
        self.final_scripts[path] = list(final)
        return self.origin + path

    def received(self, url_or_path: str) -> list[Hit]:
        path = "/" + url_or_path.split("/", 3)[-1] if url_or_path.startswith("http") else url_or_path
        with self.lock:
            return [h for h in self.hits if h.path == path]


def _start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver = holder["r"]
            with receiver.lock:
                receiver.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                final = b'"status":"SUCCESS"' in body or b'"status":"FAILURE"' in body
                script = (receiver.final_scripts.get(self.path) if final else None) or receiver.scripts.get(self.path)
                status = script.pop(0) if script else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    holder["r"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """Allowed by the stack's configuration (TOLLWAY_SSRF_ALLOW)."""
    found = _start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="session")
def stray_receiver() -> Iterator[Receiver]:
    """On loopback too, but not allowed: the default guard must never call it."""
    found = _start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="session")
def mj_stack(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LocalStack]:
    with task_stack(tmp_path_factory, "mj", {"TOLLWAY_SSRF_ALLOW": json.dumps([receiver.origin])}) as local:
        yield local


class World(TaskWorld):
    """One test's Midjourney world: a group of its own, a customer in it, a mock upstream, a channel."""

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"mj-api-secret": key or self.who.key}

    def submit(
        self, route: str, body: dict[str, Any], *, prefix: str = "/mj", key: str | None = None
    ) -> dict[str, Any]:
        response = self.http.post(f"{self.stack.url}{prefix}/submit/{route}", json=body, headers=self.headers(key))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def imagine(self, prompt: str, *, prefix: str = "/mj", key: str | None = None, **extra: Any) -> str:
        answer = self.submit("imagine", {"prompt": prompt, **extra}, prefix=prefix, key=key)
        assert answer["code"] == 1, answer
        task_id = str(answer["result"])
        assert len(task_id) == 16 and task_id.isdigit()
        return task_id

    def fetch(self, task_id: str, *, prefix: str = "/mj", key: str | None = None) -> httpx.Response:
        return self.http.get(f"{self.stack.url}{prefix}/task/{task_id}/fetch", headers=self.headers(key))

    def wait(self, task_id: str, *, prefix: str = "/mj", timeout_s: float = 20.0) -> dict[str, Any]:
        """Poll fetch every 50 ms, as clients do (every few seconds), until the task has finished."""

        def finished() -> dict[str, Any] | None:
            task: dict[str, Any] = self.fetch(task_id, prefix=prefix).json()
            return task if task["status"] in ("SUCCESS", "FAILURE", "CANCEL") else None

        return wait_until(finished, timeout_s=timeout_s, what=f"task {task_id} to finish")

    def task(self, task_id: str) -> dict[str, Any]:
        """The task as tollway keeps it (operator view: no refresh from the upstream)."""
        found: dict[str, Any] = self.stack.admin("mj.task", task_id=task_id)
        return found

    def mock_tasks(self) -> dict[str, dict[str, Any]]:
        response = httpx.get(f"{self.mock.url}/mj/_mock/tasks", headers={"authorization": "Bearer t"}, timeout=10)
        return {t["id"]: t for t in response.json()["tasks"]}

    def mock_task(self, task_id: str) -> dict[str, Any]:
        return self.mock_tasks()[self.task(task_id)["upstream_id"]]

    def wait_mock(self, task_id: str, status: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """Until the upstream itself has the task in ``status`` (whatever tollway has heard)."""
        return wait_until(
            lambda: t if (t := self.mock_task(task_id))["status"] == status else None,
            timeout_s=timeout_s,
            what=f"the upstream to report {status}",
        )

    def replay(self, task_id: str, times: int = 1) -> list[dict[str, Any]]:
        """Make the upstream call the task's callback URL again with its latest state."""
        upstream_id = self.task(task_id)["upstream_id"]
        response = httpx.post(
            f"{self.mock.url}/mj/_mock/callbacks",
            json={"id": upstream_id, "times": times},
            headers={"authorization": "Bearer t"},
            timeout=30,
        )
        sent: list[dict[str, Any]] = response.json()["sent"]
        return sent

    def callback_url(self, task_id: str) -> str:
        """The capability URL tollway gave the upstream for this task (from what the mock received)."""
        for entry in self.mock.stats()["requests_log"]:
            hook = (entry.get("body") or {}).get("notifyHook") if isinstance(entry.get("body"), dict) else None
            if isinstance(hook, str) and f"/mj/callback/{task_id}?" in hook:
                return hook
        raise AssertionError(f"no callback URL for {task_id} reached the upstream")

    def submits_received(self) -> list[dict[str, Any]]:
        return [e for e in self.mock.stats()["requests_log"] if "/submit/" in e["path"] or "insight-face" in e["path"]]


def make_world(stack: LocalStack, mock: MockServer, credit_usd: str = "1.00", **channel: Any) -> World:
    return make_task_world(
        World, stack, mock, "mj.add-channel", credit_usd=credit_usd, api_key="mj-upstream-key", **channel
    )


@pytest.fixture
def world(mj_stack: LocalStack) -> Iterator[World]:
    with task_world(World, mj_stack, "mj.add-channel", api_key="mj-upstream-key") as made:
        yield made
