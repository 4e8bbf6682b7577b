"""mj_callback: the capability URL is verified first; then the body must be about the task; non-final
news only moves it forward; final news is applied as the upstream confirms it (a fetch with the
channel key), and a confirmed failure is refunded once. Also through the Lambda handler itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import mj_callback.handler as handler
import pytest
from tollway.config.model import Channel
from tollway.mj.model import Phase, TaskStatus
from tollway_local.gateway import LambdaContext
from tollway_local.mock import MockConfig, MockServer

from tests.unit.tollway.mj.kit import Env, charged_task, customer, services


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture
def env(mock: MockServer) -> Iterator[Env]:
    with services("memory") as made:
        channel = Channel(channel_id="ch_mj", name="mock", type="midjourney", base_url=mock.url, models=("mj_imagine",))
        made.svc.config.put_channel(channel, create=True)
        made.svc.channel_secrets.put("ch_mj", "mj-upstream-key")
        yield made


def _upstream(mock: MockServer, prompt: str, status: str) -> dict[str, Any]:
    headers = {"authorization": "Bearer k"}
    upstream_id = httpx.post(f"{mock.url}/mj/submit/imagine", json={"prompt": prompt}, headers=headers).json()["result"]
    for _ in range(300):
        task: dict[str, Any] = httpx.get(f"{mock.url}/mj/task/{upstream_id}/fetch", headers=headers).json()
        if task["status"] == status:
            return task
        time.sleep(0.01)
    raise AssertionError(f"the upstream never reached {status}")


def _call(env: Env, task_id: str, body: object, sig: str | None = None) -> tuple[int, int, str]:
    signature = env.rt.keys.callback_signature(task_id) if sig is None else sig
    text = body if isinstance(body, str) else json.dumps(body)
    return handler.handle_callback(env.rt, task_id, signature, text)


def test_the_signature_comes_first(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    before = env.rt.tasks.get(task.task_id)
    failed = {**raw, "status": "FAILURE", "failReason": "forged"}
    assert _call(env, task.task_id, failed, sig="")[0] == 403
    assert _call(env, task.task_id, failed, sig="ab" * 32)[0] == 403
    assert _call(env, task.task_id, failed, sig=env.rt.keys.callback_signature(str(int(task.task_id) + 1)))[0] == 403
    assert _call(env, "not-digits", failed)[0] == 403
    assert _call(env, "1700000000000999", failed)[0] == 404  # a valid signature for a task that is not there
    assert env.rt.tasks.get(task.task_id) == before


def test_the_body_must_be_a_task_and_about_this_task(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    other = _upstream(mock, "a moss", "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    assert _call(env, task.task_id, "{not json")[0] == 400
    assert _call(env, task.task_id, {"status": "DANCING"})[0] == 400
    assert _call(env, task.task_id, [1, 2])[0] == 400
    assert _call(env, task.task_id, other)[0] == 409
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUBMITTED


def test_news_moves_the_task_forward_only(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    assert _call(env, task.task_id, {**raw, "status": "IN_PROGRESS", "progress": "60%"}) == (200, 1, "ok")
    assert _call(env, task.task_id, {**raw, "status": "IN_PROGRESS", "progress": "30%"})[2] == "ignored"
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.progress == "60%"
    assert _call(env, task.task_id, raw)[0] == 200  # SUCCESS, confirmed by the upstream
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCESS and stored.view["imageUrl"] == raw["imageUrl"]
    assert "notifyHook" not in json.dumps(stored.view) and "clientIp" not in stored.view


def test_a_failure_the_upstream_does_not_confirm_changes_nothing(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    status, _, _ = _call(env, task.task_id, {**raw, "status": "FAILURE", "progress": "", "failReason": "forged"})
    assert status == 200
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCESS  # what the upstream said instead
    assert env.svc.ledger.balance(who.account.account_id) == 800_000


def test_a_confirmed_failure_is_refunded_once(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern [[mj:fail]]", "FAILURE")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    for _ in range(3):
        assert _call(env, task.task_id, raw)[0] == 200
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    refunds = [h for h in env.svc.ledger.holds() if h.kind == "refund"]
    assert refunds == []  # written and closed
    assert env.svc.ledger.audit(who.account.account_id).ok


def test_a_callback_before_the_submit_completed_is_left_to_polling(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    pending = charged_task(env, who, 200_000, accept=False)
    assert pending.phase is Phase.PENDING
    assert _call(env, pending.task_id, raw)[0] == 202


def test_the_lambda_handler(env: Env, mock: MockServer) -> None:
    who = customer(env.svc, 1_000_000)
    raw = _upstream(mock, "a fern", "SUCCESS")
    task = charged_task(env, who, 200_000, upstream_id=raw["id"])
    handler.configure(env.svc)
    try:
        event = {
            "resource": "/mj/callback/{proxy+}",
            "path": f"/mj/callback/{task.task_id}",
            "httpMethod": "POST",
            "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"content-type": ["application/json"]},
            "queryStringParameters": {"sig": env.rt.keys.callback_signature(task.task_id)},
            "multiValueQueryStringParameters": {"sig": [env.rt.keys.callback_signature(task.task_id)]},
            "pathParameters": {"proxy": task.task_id},
            "requestContext": {"resourcePath": "/mj/callback/{proxy+}", "httpMethod": "POST", "stage": "live"},
            "body": json.dumps(raw),
            "isBase64Encoded": False,
        }
        result = handler.lambda_handler(event, LambdaContext("tollway-mj-callback-test"))  # type: ignore[arg-type]
        assert result["statusCode"] == 200 and json.loads(result["body"]) == {"code": 1, "description": "ok"}
        event["queryStringParameters"] = {"sig": "0" * 64}
        event["multiValueQueryStringParameters"] = {"sig": ["0" * 64]}
        result = handler.lambda_handler(event, LambdaContext("tollway-mj-callback-test"))  # type: ignore[arg-type]
        assert result["statusCode"] == 403
    finally:
        handler.configure(None)
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.status is TaskStatus.SUCCESS
