"""mj.sweep on both stores, against the mock MJ-Proxy upstream: polling applies the upstream's state
(forward only), failures and timeouts are refunded once, finished relay-mode images are copied, tasks
interrupted mid-submit are resolved from their usage record."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tollway.config.model import Channel
from tollway.mj.model import Phase, StateUpdate, TaskStatus
from tollway.mj.sweep import sweep_tasks
from tollway.records import RecordStatus, UsageRecord
from tollway.settings import Settings
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.endpoints.mj import png

from tests.unit.tollway.mj.kit import Env, audit_ok, charged_task, customer, now_ms, services

HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest, mock: MockServer) -> Iterator[Env]:
    with services(request.param, Settings(mj_image_bucket="mj-test-images")) as made:
        channel = Channel(channel_id="ch_mj", name="mock", type="midjourney", base_url=mock.url, models=("mj_imagine",))
        made.svc.config.put_channel(channel, create=True)
        made.svc.channel_secrets.put("ch_mj", "mj-upstream-key")
        yield made


def _upstream(mock: MockServer, prompt: str) -> str:
    """A task the upstream itself runs (as if tollway had submitted it)."""
    answer = httpx.post(
        f"{mock.url}/mj/submit/imagine", json={"prompt": prompt}, headers={"authorization": "Bearer k"}, timeout=10
    ).json()
    assert answer["code"] == 1
    return str(answer["result"])


def _wait_upstream(mock: MockServer, upstream_id: str, status: str) -> None:
    def tasks() -> dict[str, dict[str, object]]:
        response = httpx.get(f"{mock.url}/mj/_mock/tasks", headers={"authorization": "Bearer k"}, timeout=10)
        return {t["id"]: t for t in response.json()["tasks"]}

    for _ in range(200):
        if tasks()[upstream_id]["status"] == status:
            return
        __import__("time").sleep(0.01)
    raise AssertionError(f"upstream task {upstream_id} never reached {status}")


def test_polling_applies_success_and_copies_the_image(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    upstream_id = _upstream(mock, "a rose")
    _wait_upstream(mock, upstream_id, "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=upstream_id)
    report = sweep_tasks(env.rt, now_ms())
    assert report.polled == 1 and report.closed == 1 and not report.refunded
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCESS and not stored.open
    assert stored.image_key is not None and stored.image_error is None
    assert env.rt.images is not None and env.rt.images.get(stored.image_key) == (png(upstream_id), "image/png")
    assert sweep_tasks(env.rt, now_ms()).open == 0  # closed tasks are not looked at again


def test_polling_refunds_a_failure_once(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    upstream_id = _upstream(mock, "a rose [[mj:fail]]")
    _wait_upstream(mock, upstream_id, "FAILURE")
    task = charged_task(env, who, 200_000, upstream_id=upstream_id)
    report = sweep_tasks(env.rt, now_ms())
    assert report.refunded == [task.task_id]
    assert sweep_tasks(env.rt, now_ms()).refunded == []
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    assert audit_ok(env.svc, who.account.account_id)


def test_a_stuck_task_times_out_and_is_refunded(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    upstream_id = _upstream(mock, "a rose [[mj:stuck]]")
    _wait_upstream(mock, upstream_id, "IN_PROGRESS")
    task = charged_task(env, who, 200_000, upstream_id=upstream_id)
    assert sweep_tasks(env.rt, now_ms()).timed_out == []
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.IN_PROGRESS  # polled, still running
    report = sweep_tasks(env.rt, now_ms() + HOUR_MS + 1000)
    assert report.timed_out == [task.task_id] and report.refunded == [task.task_id]
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.FAILURE
    assert str(stored.view["failReason"]).startswith("task timed out")
    record = env.svc.usage.get(who.account.account_id, task.hold_id)
    assert record is not None and (record.charge, record.error_code) == (0, "mj_task_timeout")
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000


def test_a_late_success_does_not_undo_a_timeout(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    env.rt.engine.time_out(task, now_ms())
    applied, stored = env.rt.tasks.apply(task.task_id, StateUpdate(TaskStatus.SUCCESS, "100%", {}), now_ms())
    assert not applied and stored is not None and stored.status is TaskStatus.FAILURE
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000


def test_tasks_interrupted_mid_submit_are_resolved_from_their_record(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    # Charged (its usage record says so), but the process died before it recorded the upstream's answer.
    lost = charged_task(env, who, 200_000, accept=False)
    # Reserved and released (the upstream refused), but the process died before it dropped the task.
    refused = lost.replace(task_id="6" + lost.task_id[1:], hold_id="req_never_charged")
    env.rt.tasks.create(refused)
    assert svc.ledger.balance(who.account.account_id) == 800_000
    assert sweep_tasks(env.rt, now_ms()).recovered == []  # young: the request may still be running
    later = now_ms() + int((svc.settings.hold_timeout_s + svc.settings.settled_grace_s) * 1000) + 1000
    report = sweep_tasks(env.rt, later)
    assert report.discarded == [refused.task_id]
    assert report.recovered == [lost.task_id] and report.refunded == [lost.task_id]
    assert env.rt.tasks.get(refused.task_id) is None
    recovered = env.rt.tasks.get(lost.task_id)
    assert recovered is not None and recovered.status is TaskStatus.FAILURE and recovered.refunded_at is not None
    assert recovered.phase is Phase.ACCEPTED and not recovered.open
    assert svc.ledger.balance(who.account.account_id) == 1_000_000
    assert audit_ok(svc, who.account.account_id)


def test_polling_with_the_channel_gone_leaves_the_task_to_the_timeout(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000, channel_id="ch_removed")
    report = sweep_tasks(env.rt, now_ms())
    assert report.poll_errors == ["ch_removed: channel not found"]
    assert sweep_tasks(env.rt, now_ms() + 2 * HOUR_MS).refunded == [task.task_id]


def test_the_submit_record_is_rewritten_not_duplicated(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    env.rt.engine.time_out(task, now_ms())
    from tollway.usage.query import UsageFilter

    records = env.svc.usage.query(UsageFilter(account_id=who.account.account_id)).records
    assert [(r.request_id, r.status, r.charge) for r in records] == [(task.hold_id, RecordStatus.ERROR, 0)]
    assert isinstance(records[0], UsageRecord)


def test_a_read_that_moved_a_task_runs_its_followups_after_the_answer(env: Env) -> None:
    # What a task fetch does when it refreshed a stale task: the answer goes out first, then the
    # follow-ups (here: the refund of a failure) run once from engine.later.
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000, upstream_id="up-later")
    assert env.rt.engine.later([]) is None
    applied, moved = env.rt.tasks.apply(task.task_id, StateUpdate(TaskStatus.FAILURE, "0%", {}), now_ms())
    assert applied and moved is not None
    assert env.svc.ledger.balance(who.account.account_id) == 800_000  # not yet: nothing ran
    after = env.rt.engine.later([moved])
    assert after is not None
    after()
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.refunded_at is not None and not stored.open
    assert audit_ok(env.svc, who.account.account_id)
