"""Refunds: a failed task is refunded exactly once however its FAILURE arrives (callbacks duplicated,
out of order, racing the poller); a task that never finishes is timed out and refunded; a refusal
releases the hold at once and charges nothing."""

from __future__ import annotations

import threading

import pytest

from tests.integration.mj.conftest import World
from tests.support.stack import wait_until

pytestmark = pytest.mark.integration

FAST_IMAGINE = 200_000


def _assert_refunded_once(world: World, task_id: str) -> None:
    world.settle_down()
    refunds = world.refunds()
    assert len(refunds) == 1, refunds
    assert int(str(refunds[0]["amount"])) == FAST_IMAGINE
    assert world.stack.balance(world.who.account_id) == 1_000_000
    record = world.record(task_id)  # the submit's one record carries the final charge
    assert (record["charge"], record["status"], record["error_code"]) == (0, "error", "mj_task_failure")
    assert len(record["entry_ids"]) == 2  # the charge and its refund
    assert world.task(task_id)["refunded_at"] is not None
    assert world.stack.audit(world.who.account_id)["ok"]


def test_failure_by_two_callbacks_and_a_poll_at_once_is_refunded_once(world: World) -> None:
    # No callbacks while it runs: tollway hears of the failure only from what the test sends below.
    task_id = world.imagine("a storm [[mj:fail]] [[mj:callbacks=none]]")
    world.wait_mock(task_id, "FAILURE")
    assert world.task(task_id)["status"] != "FAILURE"
    # The FAILURE arrives by callback twice and by polling once, all at the same time.
    jobs = [
        threading.Thread(target=world.replay, args=(task_id,)),
        threading.Thread(target=world.replay, args=(task_id,)),
        threading.Thread(target=world.stack.admin, args=("mj.sweep",)),
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert world.task(task_id)["status"] == "FAILURE"
    # And once more in every way, later: nothing changes.
    world.replay(task_id, times=2)
    world.stack.admin("mj.sweep")
    assert world.fetch(task_id).json()["status"] == "FAILURE"
    _assert_refunded_once(world, task_id)


def test_duplicated_callbacks_out_of_order_are_refunded_once(world: World) -> None:
    # Every callback twice, and all of them only at the end, the last state first.
    task_id = world.imagine("a wreck [[mj:fail]] [[mj:callbacks=reverse]] [[mj:steps=3]] [[mj:step_ms=50]]")
    world.wait_mock(task_id, "FAILURE")
    wait_until(lambda: len(world.mock_task(task_id)["callbacks_sent"]) >= 4, what="the reversed callbacks")
    world.replay(task_id, times=2)
    task = world.task(task_id)
    assert task["status"] == "FAILURE"  # the earlier states, delivered late, did not move it back
    assert world.fetch(task_id).json()["failReason"].startswith("[Banned prompt]")
    _assert_refunded_once(world, task_id)


def test_a_task_that_never_finishes_is_timed_out_and_refunded(world: World) -> None:
    task_id = world.imagine("a clock [[mj:stuck]]")
    wait_until(lambda: world.fetch(task_id).json()["status"] == "IN_PROGRESS", what="the task to start")
    world.stack.admin("mj.sweep")
    assert world.task(task_id)["status"] == "IN_PROGRESS"  # younger than the timeout: left alone
    world.backdate(task_id, hours=2)  # older than the default timeout (one hour)
    report = world.stack.admin("mj.sweep")
    assert task_id in report["timed_out"] and task_id in report["refunded"]
    task = world.fetch(task_id).json()
    assert task["status"] == "FAILURE" and task["failReason"].startswith("task timed out")
    world.settle_down()
    assert world.stack.balance(world.who.account_id) == 1_000_000
    record = world.record(task_id)
    assert (record["charge"], record["error_code"]) == (0, "mj_task_timeout")
    world.stack.admin("mj.sweep")  # again: nothing more
    assert len(world.refunds()) == 1
    assert world.stack.audit(world.who.account_id)["ok"]


def test_a_refused_submit_releases_its_hold_at_once(world: World) -> None:
    answer = world.submit("imagine", {"prompt": "forbidden words [[mj:reject=24]]"})
    assert answer["code"] == 24 and answer["result"] is None
    world.settle_down()
    assert world.stack.balance(world.who.account_id) == 1_000_000
    (record,) = world.stack.records(world.who.account_id)
    assert (record["status"], record["error_code"], record["charge"], record["hold"]) == (
        "error",
        "mj_code_24",
        0,
        FAST_IMAGINE,
    )
    assert not world.stack.open_holds(world.who.account_id)
    assert not world.refunds()  # nothing was charged, so nothing is refunded
    assert world.stack.audit(world.who.account_id)["ok"]


def test_a_successful_task_is_never_refunded(world: World) -> None:
    task_id = world.imagine("a meadow [[mj:callbacks=dup]] [[mj:step_ms=50]]")
    assert world.wait(task_id)["status"] == "SUCCESS"
    world.replay(task_id, times=2)
    world.stack.admin("mj.sweep")
    world.settle_down()
    assert world.stack.balance(world.who.account_id) == 1_000_000 - FAST_IMAGINE
    assert not world.refunds()
    assert world.stack.audit(world.who.account_id)["ok"]
