"""The upstream's callbacks: tollway's per-task capability URL, and what a forged or replayed callback
can do — nothing (bad signature, another task's signature, a body about another task, a state that
goes backwards, a FAILURE the upstream does not confirm)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.integration.mj.conftest import World
from tests.support.stack import wait_until

pytestmark = pytest.mark.integration


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, timeout=30)


def _snapshot(world: World, task_id: str) -> tuple[dict[str, Any], int]:
    task = world.task(task_id)
    return {k: task[k] for k in ("status", "progress", "rank", "view", "refunded_at")}, world.stack.balance(
        world.who.account_id
    )


def test_callbacks_move_the_task_without_any_polling(world: World) -> None:
    task_id = world.imagine("a harbour [[mj:steps=3]] [[mj:step_ms=300]]")
    # No fetch, no sweep: only the upstream's callbacks to the URL tollway gave it.
    done = wait_until(lambda: t if (t := world.task(task_id))["status"] == "SUCCESS" else None, what="callbacks")
    assert done["view"]["imageUrl"].endswith(".png")
    url = world.callback_url(task_id)
    assert url.startswith(f"{world.stack.url}/mj/callback/{task_id}?sig=")
    sent = world.mock_task(task_id)["callbacks_sent"]
    assert [c["http_status"] for c in sent] == [200] * len(sent) and len(sent) >= 3


def test_a_forged_or_replayed_callback_changes_nothing(world: World) -> None:
    first = world.imagine("a bridge [[mj:step_ms=50]]")
    second = world.imagine("a tower [[mj:step_ms=50]]")
    world.wait(first)
    world.wait(second)
    url_first = world.callback_url(first)
    genuine = world.mock_task(first)
    other = world.mock_task(second)
    before = _snapshot(world, first), _snapshot(world, second)

    failed = {**copy.deepcopy(genuine), "status": "FAILURE", "progress": "", "failReason": "forged"}
    base, signature = url_first.split("?sig=")
    wrong = ("1" if signature[0] != "1" else "2") + signature[1:]
    attempts = [
        (f"{base}?sig={wrong}", failed, 403),  # a wrong signature
        (base, failed, 403),  # none at all
        (url_first.replace(f"/callback/{first}", f"/callback/{second}"), failed, 403),  # another task's URL
        (url_first, {**copy.deepcopy(other), "status": "FAILURE"}, 409),  # a body about another task
        (url_first, {**genuine, "status": "IN_PROGRESS", "progress": "40%"}, 200),  # backwards: ignored
        (url_first, genuine, 200),  # a replay of the last genuine callback
        # A FAILURE with the right signature, say a leaked URL: the upstream does not confirm it.
        (url_first, failed, 200),
    ]
    for url, body, status in attempts:
        response = _post(url, body)
        assert response.status_code == status, (url, body["status"], response.text)
    assert (_snapshot(world, first), _snapshot(world, second)) == before
    assert world.fetch(first).json()["status"] == "SUCCESS"
    assert world.stack.audit(world.who.account_id)["ok"]


def test_garbage_callbacks_are_refused(world: World) -> None:
    task_id = world.imagine("a field [[mj:step_ms=50]]")
    world.wait(task_id)
    url = world.callback_url(task_id)
    before = _snapshot(world, task_id)
    assert httpx.post(url, content=b"{not json", timeout=30).status_code == 400
    assert _post(url, {"hello": "world", "status": "DONE"}).status_code == 400
    assert _post(f"{world.stack.url}/mj/callback/not-a-task?sig=x", {}).status_code == 403
    assert _snapshot(world, task_id) == before
