"""Suno tasks on the shared task machinery, on both stores (memory and DynamoDB on moto), against the
mock Suno upstream: mj.sweep polls them with the Suno protocol next to Midjourney tasks, applies their
state forward only, refunds a failure or a timeout exactly once, and recovers an interrupted submit."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import pytest
from tollway.config.model import Channel
from tollway.mj.model import TaskStatus
from tollway.mj.sweep import sweep_tasks
from tollway.settings import Settings
from tollway.suno.poll import refresh
from tollway.suno.runtime import suno_runtime_of
from tollway_local.mock import MockConfig, MockServer

from tests.unit.tollway.mj.kit import Env, audit_ok, charged_task, customer, now_ms, services
from tests.unit.tollway.suno.kit import advance_upstream, suno_task, upstream_task

HOUR_MS = 3600 * 1000
MUSIC = 100_000


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest, mock: MockServer) -> Iterator[Env]:
    with services(request.param, Settings(mj_refresh_after_s=0)) as made:
        config, secrets = made.svc.config, made.svc.channel_secrets
        config.put_channel(
            Channel("ch_suno", "mock suno", "suno", mock.url, ("suno_music", "suno_lyrics")), create=True
        )
        secrets.put("ch_suno", "suno-upstream-key")
        config.put_channel(Channel("ch_mj", "mock mj", "midjourney", mock.url, ("mj_imagine",)), create=True)
        secrets.put("ch_mj", "mj-upstream-key")
        yield made
        suno_runtime_of(made.rt).close()


def _refunds(env: Env, account_id: str) -> int:
    """Ledger entries beyond the credit and the charge (a second refund would be one more)."""
    return env.svc.ledger.audit(account_id).entries - 2


def test_the_sweep_polls_suno_tasks_with_the_suno_protocol_next_to_mj_tasks(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    mj_upstream = httpx.post(
        f"{mock.url}/mj/submit/imagine", json={"prompt": "a rose"}, headers={"authorization": "Bearer k"}, timeout=10
    ).json()["result"]
    mj = charged_task(env, who, 200_000, upstream_id=str(mj_upstream))
    song = suno_task(env, who, MUSIC, upstream_id=upstream_task(mock, {"prompt": "la la"}))
    mock.reset()
    statuses = []
    for _ in range(3):  # the mock moves a Suno task one step per read: SUBMITTED, IN_PROGRESS, SUCCESS
        report = sweep_tasks(env.rt, now_ms())
        assert report.poll_errors == []
        stored = env.rt.tasks.get(song.task_id)
        assert stored is not None
        statuses.append(stored.status)
    assert statuses == [TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS, TaskStatus.SUCCESS]
    assert stored is not None and not stored.open and stored.refunded_at is None
    clips = stored.view["data"]
    assert [c["status"] for c in clips] == ["complete", "complete"] and all(c["audio_url"] for c in clips)
    assert all("user_id" not in c for c in clips)
    finished = env.rt.tasks.get(mj.task_id)
    assert finished is not None and finished.status is TaskStatus.SUCCESS  # polled the MJ way
    log = mock.stats()["requests_log"]
    suno_polls = [e for e in log if e["path"] == "/suno/fetch"]
    assert suno_polls and all(e["body"] == {"ids": [song.upstream_id]} for e in suno_polls)
    assert all(e["headers"].get("authorization") == "Bearer suno-upstream-key" for e in suno_polls)
    assert [e for e in log if e["path"].endswith("/list-by-condition")]
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000 - 200_000 - MUSIC
    assert audit_ok(env.svc, who.account.account_id)


def test_a_failure_is_refunded_once_however_often_it_is_seen(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    upstream_id = upstream_task(mock, {"prompt": "a storm [[suno:fail]]"})
    advance_upstream(mock, upstream_id, "FAILURE")  # the upstream knows; tollway has not heard yet
    task = suno_task(env, who, MUSIC, upstream_id=upstream_id)
    srt = suno_runtime_of(env.rt)
    (seen,), moved = refresh(srt, [task], now_ms())  # a client's fetch sees it first
    assert seen.status is TaskStatus.FAILURE and moved == [seen] and seen.refunded_at is None
    reports = [sweep_tasks(env.rt, now_ms()) for _ in range(3)]
    env.rt.engine.followups(seen, now_ms())  # the fetch's own follow-up, arriving last
    assert [r.refunded for r in reports] == [[task.task_id], [], []]
    assert _refunds(env, who.account.account_id) == 1
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    record = env.svc.usage.get(who.account.account_id, task.hold_id)
    assert record is not None
    assert (record.charge, record.status.value, record.error_code) == (0, "error", "suno_task_failure")
    assert len(record.entry_ids) == 2 and record.task_id == task.task_id
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.view["fail_reason"] and not stored.open
    assert audit_ok(env.svc, who.account.account_id)


def test_a_stuck_task_times_out_and_is_refunded_once(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    task = suno_task(env, who, MUSIC, upstream_id=upstream_task(mock, {"prompt": "[[suno:stuck]]"}))
    for _ in range(3):
        assert sweep_tasks(env.rt, now_ms()).timed_out == []
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.IN_PROGRESS
    later = now_ms() + HOUR_MS + 1000
    report = sweep_tasks(env.rt, later)
    assert report.timed_out == [task.task_id] and report.refunded == [task.task_id]
    assert sweep_tasks(env.rt, later + 1000).refunded == []
    record = env.svc.usage.get(who.account.account_id, task.hold_id)
    assert record is not None and (record.charge, record.error_code) == (0, "suno_task_timeout")
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    assert _refunds(env, who.account.account_id) == 1
    assert audit_ok(env.svc, who.account.account_id)


def test_a_fetch_past_the_timeout_fails_and_refunds_at_once(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    task = suno_task(env, who, MUSIC, upstream_id=upstream_task(mock, {"prompt": "[[suno:stuck]]"}))
    (seen,), moved = refresh(suno_runtime_of(env.rt), [task], now_ms() + HOUR_MS + 1000)
    assert seen.status is TaskStatus.FAILURE and seen.refunded_at is not None and moved == []
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000


def test_an_interrupted_submit_is_recovered_and_refunded(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    lost = suno_task(env, who, MUSIC, accept=False)  # charged; the process died before the answer was kept
    later = now_ms() + int((svc.settings.hold_timeout_s + svc.settings.settled_grace_s) * 1000) + 1000
    report = sweep_tasks(env.rt, later)
    assert report.recovered == [lost.task_id] and report.refunded == [lost.task_id]
    record = svc.usage.get(who.account.account_id, lost.hold_id)
    assert record is not None and (record.charge, record.error_code) == (0, "suno_task_failure")
    assert svc.ledger.balance(who.account.account_id) == 1_000_000
    assert audit_ok(svc, who.account.account_id)


def test_the_kind_round_trips_and_old_items_are_midjourney_tasks(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    song = suno_task(env, who, MUSIC, upstream_id="up-1")
    stored = env.rt.tasks.get(song.task_id)
    assert stored is not None and stored.kind == "suno" and stored == song
    mj = charged_task(env, who, 200_000)
    assert (env.rt.tasks.get(mj.task_id) or mj).kind == "mj"
    if env.name == "dynamodb":  # an item written before tasks had a kind
        client = boto3.client("dynamodb", region_name=env.svc.settings.region)
        client.update_item(TableName="TasksTable", Key={"task_id": {"S": mj.task_id}}, UpdateExpression="REMOVE kind")
        old = env.rt.tasks.get(mj.task_id)
        assert old is not None and old.kind == "mj"
