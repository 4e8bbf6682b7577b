"""The Suno integration fixtures: a local stack of its own (fetches refresh unfinished tasks from the
upstream every time, as the MJ stack does), and per test a group, a customer in it, a mock Suno
upstream and its channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.stack import LocalStack, wait_until
from tests.support.task_world import TaskWorld, task_stack, task_world

UPSTREAM_KEY = "suno-upstream-key-7f3a"


@pytest.fixture(scope="session")
def suno_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with task_stack(tmp_path_factory, "suno") as local:
        yield local


class World(TaskWorld):
    """One test's Suno world: a group of its own, a customer in it, a mock upstream, a channel."""

    settle_s = 0.3

    def headers(self, key: str | None = None, *, mj_secret: bool = False) -> dict[str, str]:
        """Bearer (scripts, new-api clients), or ``mj-api-secret`` (chatgpt-web-midjourney-proxy)."""
        if mj_secret:
            return {"mj-api-secret": key or self.who.key}
        return {"authorization": f"Bearer {key or self.who.key}"}

    def post(self, path: str, body: Any, *, key: str | None = None, mj_secret: bool = False) -> httpx.Response:
        return self.http.post(f"{self.stack.url}{path}", json=body, headers=self.headers(key, mj_secret=mj_secret))

    def submit(self, action: str, body: dict[str, Any], *, key: str | None = None, mj_secret: bool = False) -> str:
        response = self.post(f"/suno/submit/{action}", body, key=key, mj_secret=mj_secret)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["code"] == "success" and answer["message"] == "", answer
        return str(answer["data"])

    def fetch(self, task_id: str, *, key: str | None = None) -> httpx.Response:
        return self.http.get(f"{self.stack.url}/suno/fetch/{task_id}", headers=self.headers(key))

    def fetch_many(self, ids: list[Any], *, key: str | None = None) -> list[dict[str, Any]]:
        response = self.post("/suno/fetch", {"ids": ids}, key=key)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def wait(self, task_id: str, *, key: str | None = None) -> dict[str, Any]:
        """Poll ``GET /suno/fetch/<id>`` as clients do, until the task has finished."""

        def finished() -> dict[str, Any] | None:
            answer = self.fetch(task_id, key=key).json()
            assert answer["code"] == "success", answer
            task: dict[str, Any] = answer["data"]
            return task if task["status"] in ("SUCCESS", "FAILURE") else None

        return wait_until(finished, timeout_s=20, what=f"task {task_id} to finish")

    def task(self, task_id: str) -> dict[str, Any]:
        """The task as tollway keeps it (operator view: no refresh from the upstream)."""
        found: dict[str, Any] = self.stack.admin("suno.task", task_id=task_id)
        return found

    def mock_tasks(self) -> dict[str, dict[str, Any]]:
        response = httpx.get(f"{self.mock.url}/suno/_mock/tasks", headers={"authorization": "Bearer t"}, timeout=10)
        return {t["task_id"]: t for t in response.json()["tasks"]}

    def read_upstream(self, upstream_id: str) -> dict[str, Any]:
        """Read a task on the upstream behind tollway's back (the mock moves it one step per read)."""
        response = httpx.post(
            f"{self.mock.url}/suno/fetch",
            json={"ids": [upstream_id]},
            headers={"authorization": "Bearer t"},
            timeout=10,
        )
        item: dict[str, Any] = response.json()["data"][0]
        return item

    def submits_received(self) -> list[dict[str, Any]]:
        return [e for e in self.mock.stats()["requests_log"] if "/suno/submit/" in e["path"]]


@pytest.fixture
def world(suno_stack: LocalStack) -> Iterator[World]:
    with task_world(World, suno_stack, "suno.add-channel", api_key=UPSTREAM_KEY) as made:
        yield made
