"""Refunds over HTTP against the real stack: a failed task is refunded exactly once however often and
however concurrently its FAILURE is seen (client fetches by id and by list, scheduled sweeps); a task
that never finishes is timed out and refunded once; an upstream refusal charges nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.suno.conftest import World

pytestmark = pytest.mark.integration

MUSIC = 100_000


def _assert_refunded_once(world: World, task_id: str, error_code: str) -> None:
    world.settle_down()
    refunds = world.refunds()
    assert len(refunds) == 1, refunds
    assert int(str(refunds[0]["amount"])) == MUSIC
    assert world.stack.balance(world.who.account_id) == 1_000_000
    record = world.record(task_id)  # the submit's one record carries the final charge
    assert (record["charge"], record["status"], record["error_code"]) == (0, "error", error_code)
    assert len(record["entry_ids"]) == 2  # the charge and its refund
    assert world.task(task_id)["refunded_at"] is not None
    assert len(world.stack.records(world.who.account_id)) == 1
    assert world.stack.audit(world.who.account_id)["ok"]


def test_a_failure_seen_repeatedly_and_concurrently_is_refunded_once(world: World) -> None:
    task_id = world.submit("music", {"gpt_description_prompt": "a storm at sea [[suno:fail]]"})
    assert world.stack.balance(world.who.account_id) == 1_000_000 - MUSIC  # charged on accept
    upstream_id = world.task(task_id)["upstream_id"]
    # The upstream fails the task; tollway has not heard of it yet.
    while world.read_upstream(upstream_id)["status"] != "FAILURE":
        pass
    assert world.task(task_id)["status"] == "NOT_START"

    answers: list[Any] = []
    lock = threading.Lock()

    def keep(call: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            result = call()
            with lock:
                answers.append(result)

        return run

    # Everything that can see the FAILURE sees it at once: client fetches by id and by list, and sweeps.
    jobs = [keep(lambda: world.fetch(task_id).json()["data"]["status"]) for _ in range(6)]
    jobs += [keep(lambda: [t["status"] for t in world.fetch_many([task_id, task_id])]) for _ in range(3)]
    jobs += [keep(lambda: world.stack.admin("mj.sweep")) for _ in range(4)]
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == len(jobs)
    # And again, later, every way: nothing changes.
    for _ in range(2):
        world.stack.admin("mj.sweep")
        assert world.fetch(task_id).json()["data"]["status"] == "FAILURE"
        assert [t["status"] for t in world.fetch_many([task_id])] == ["FAILURE"]
    task = world.fetch(task_id).json()["data"]
    assert (task["status"], task["progress"]) == ("FAILURE", "100%")
    assert task["fail_reason"] == "mock failure on a trigger word"
    _assert_refunded_once(world, task_id, "suno_task_failure")


def test_a_task_that_never_finishes_is_timed_out_and_refunded(world: World) -> None:
    task_id = world.submit("music", {"prompt": "an endless loop [[suno:stuck]]"})
    for _ in range(3):
        world.fetch(task_id)
    assert world.fetch(task_id).json()["data"]["status"] == "IN_PROGRESS"
    world.stack.admin("mj.sweep")
    assert world.task(task_id)["status"] == "IN_PROGRESS"  # younger than the timeout: left alone
    world.backdate(task_id, hours=2)  # older than the default timeout (one hour)
    report = world.stack.admin("mj.sweep")
    assert task_id in report["timed_out"] and task_id in report["refunded"]
    task = world.fetch(task_id).json()["data"]
    assert (task["status"], task["progress"]) == ("FAILURE", "100%")
    assert task["fail_reason"].startswith("task timed out") and task["finish_time"] > 0
    world.stack.admin("mj.sweep")  # again: nothing more
    _assert_refunded_once(world, task_id, "suno_task_timeout")


def test_an_upstream_refusal_charges_nothing(world: World) -> None:
    response = world.post("/suno/submit/music", {"prompt": "a song [[suno:reject=insufficient_credits]]"})
    assert response.status_code == 502
    assert response.json() == {
        "code": "insufficient_credits",
        "message": "rejected by the mock upstream",
        "data": None,
    }
    world.settle_down()
    assert world.stack.balance(world.who.account_id) == 1_000_000
    (record,) = world.stack.records(world.who.account_id)
    assert (record["status"], record["error_code"], record["charge"], record["hold"]) == (
        "error",
        "suno_insufficient_credits",
        0,
        MUSIC,
    )
    assert not world.stack.open_holds(world.who.account_id)
    assert not world.refunds()
    assert world.stack.audit(world.who.account_id)["ok"]
