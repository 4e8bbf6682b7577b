"""The ready Midjourney callback events in events/mj_callback/ (`sam local invoke MjCallbackFunction -e …`)
replayed through the callback function's Lambda handler: a signed success, a signed failure (refunded
once), a forged one (403, nothing read or changed). The events are signed with the example signing master
below, which the test seeds in the store as an operator would for `sam local` (docs/deploy.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mj_callback.handler as handler
import pytest
from tollway.config.model import Channel
from tollway.mj.model import ImageMode, TaskStatus
from tollway.mj.runtime import runtime_for
from tollway_local.gateway import LambdaContext

from tests.unit.tollway.mj.kit import Env, audit_ok, charged_task, customer, services

EVENTS = Path(__file__).resolve().parents[3] / "events" / "mj_callback"
MASTER = "tollway-events-example-signing-master"
TASK_ID = "1796000000000001"
UPSTREAM_ID = "1796000000000999"
CONTEXT = LambdaContext("tollway-mj-callback-events")


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with services("memory") as made:
        made.svc.secrets.put(f"{made.svc.settings.secrets_prefix}mj/signing-key", MASTER)
        channel = Channel(
            channel_id="ch_mj", name="mj", type="midjourney", base_url="http://127.0.0.1:9", models=("mj_imagine",)
        )
        made.svc.config.put_channel(channel, create=True)
        made.svc.channel_secrets.put("ch_mj", "mj-upstream-key")
        handler.configure(made.svc)
        try:
            yield made
        finally:
            handler.configure(None)
            runtime_for(made.svc).close()


def confirm_with(monkeypatch: pytest.MonkeyPatch, env: Env, body: dict[str, Any]) -> None:
    """The upstream confirms a final state when asked (the handler fetches the task before believing it)."""
    monkeypatch.setattr(runtime_for(env.svc).upstream, "fetch", lambda channel, key, upstream_id: body)


def answer(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return int(result["statusCode"]), json.loads(result["body"])


def test_the_events_are_the_callback_routes_rest_proxy_events() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == ["failure.json", "forged.json", "success.json"]
    for name in ("failure.json", "forged.json", "success.json"):
        data = event(name)
        assert data["resource"] == "/mj/callback/{proxy+}" and data["pathParameters"] == {"proxy": TASK_ID}
        assert json.loads(data["body"])["id"] == UPSTREAM_ID


def test_a_signed_success(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    who = customer(env.svc, 1_000_000)
    charged_task(env, who, 200_000, upstream_id=UPSTREAM_ID, task_id=TASK_ID, image_mode=ImageMode.ORIGIN)
    sent = event("success.json")
    confirm_with(monkeypatch, env, json.loads(sent["body"]))
    assert answer(handler.lambda_handler(sent, CONTEXT)) == (200, {"code": 1, "description": "ok"})
    task = env.rt.tasks.get(TASK_ID)
    assert task is not None and task.status is TaskStatus.SUCCESS
    assert env.svc.ledger.balance(who.account.account_id) == 800_000


def test_a_signed_failure_is_refunded_once(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    who = customer(env.svc, 1_000_000)
    charged_task(env, who, 200_000, upstream_id=UPSTREAM_ID, task_id=TASK_ID, image_mode=ImageMode.ORIGIN)
    sent = event("failure.json")
    confirm_with(monkeypatch, env, json.loads(sent["body"]))
    assert answer(handler.lambda_handler(sent, CONTEXT))[0] == 200
    assert answer(handler.lambda_handler(sent, CONTEXT))[0] == 200  # a replay changes nothing
    task = env.rt.tasks.get(TASK_ID)
    assert task is not None and task.status is TaskStatus.FAILURE
    assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
    assert audit_ok(env.svc, who.account.account_id)


def test_a_forged_callback_is_refused_and_changes_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    who = customer(env.svc, 1_000_000)
    charged_task(env, who, 200_000, upstream_id=UPSTREAM_ID, task_id=TASK_ID, image_mode=ImageMode.ORIGIN)
    before = env.rt.tasks.get(TASK_ID)
    confirm_with(monkeypatch, env, json.loads(event("forged.json")["body"]))
    status, body = answer(handler.lambda_handler(event("forged.json"), CONTEXT))
    assert status == 403 and body["description"] == "bad signature"
    assert env.rt.tasks.get(TASK_ID) == before
    assert env.svc.ledger.balance(who.account.account_id) == 800_000
