"""Who may see and spend what, over HTTP against the real stack: another account's task id is not
found (by id, in a list, as a continuation's origin); an insufficient balance answers the protocol's
error and sends nothing upstream; a LYRICS submit without a prompt is refused without a charge."""

from __future__ import annotations

import pytest

from tests.integration.suno.conftest import World

pytestmark = pytest.mark.integration


def test_another_accounts_task_is_not_found(world: World) -> None:
    task_id = world.submit("lyrics", {"prompt": "mine"})
    other = world.customer()
    by_id = world.fetch(task_id, key=other.key)
    unknown = world.fetch("task_" + "f" * 32, key=other.key)
    not_found = {"code": "task_not_exist", "message": "task_not_exist", "data": None}
    assert (by_id.status_code, by_id.json()) == (404, not_found)
    assert (unknown.status_code, unknown.json()) == (404, not_found)  # the two cannot be told apart
    assert world.fetch_many([task_id], key=other.key) == []
    continuation = world.post(
        "/suno/submit/music", {"prompt": "x", "task_id": task_id, "continue_clip_id": "c"}, key=other.key
    )
    assert continuation.status_code == 400 and continuation.json()["code"] == "task_not_exist"
    assert len(world.submits_received()) == 1  # only the owner's submit reached the upstream
    assert world.stack.balance(other.account_id) == 1_000_000
    assert world.fetch(task_id).json()["data"]["task_id"] == task_id  # the owner still sees it
    assert world.stack.audit(other.account_id)["ok"] and world.stack.audit(world.who.account_id)["ok"]


def test_insufficient_balance_answers_the_error_and_submits_nothing(world: World) -> None:
    poor = world.customer(credit_usd="0.05")
    response = world.post("/suno/submit/music", {"prompt": "a song"}, key=poor.key)
    assert response.status_code == 403
    body = response.json()
    assert (body["code"], body["data"]) == ("quota_not_enough", None)
    assert "$0.10" in body["message"] and "$0.05" in body["message"]
    assert world.submits_received() == []
    (record,) = world.stack.records(poor.account_id)
    assert (record["status"], record["error_code"], record["charge"], record["model"]) == (
        "refused",
        "insufficient_quota",
        0,
        "suno_music",
    )
    assert world.stack.balance(poor.account_id) == 50_000
    # What the balance can pay for goes through.
    assert world.submit("lyrics", {"prompt": "cheap"}, key=poor.key).startswith("task_")
    assert world.stack.balance(poor.account_id) == 40_000
    assert world.stack.audit(poor.account_id)["ok"]


def test_lyrics_without_a_prompt_and_unknown_actions_are_refused_free(world: World) -> None:
    empty = world.post("/suno/submit/lyrics", {"title": "no words", "prompt": ""})
    assert (empty.status_code, empty.json()) == (
        400,
        {"code": "invalid_request", "message": "prompt_empty", "data": None},
    )
    action = world.post("/suno/submit/video", {"prompt": "x"}, mj_secret=True)
    assert (action.status_code, action.json()["message"]) == (400, "invalid_action")
    assert world.submits_received() == []
    records = world.stack.records(world.who.account_id)
    assert sorted((r["status"], r["error_code"], r["charge"]) for r in records) == [
        ("refused", "invalid_action", 0),
        ("refused", "prompt_empty", 0),
    ]
    assert not world.stack.open_holds(world.who.account_id)
    assert world.stack.balance(world.who.account_id) == 1_000_000
    assert world.stack.audit(world.who.account_id)["ok"]
