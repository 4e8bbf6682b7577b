"""Another account's task id is not found, by any route; insufficient balance is an envelope and
nothing reaches the upstream; speed modes (path > prompt flag > key default > operator default) set
the price, and a mode the group may not use is refused."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.mj.conftest import World

pytestmark = pytest.mark.integration


def test_another_accounts_task_id_is_not_found(world: World) -> None:
    stack = world.stack
    task_id = world.imagine("a secret garden")
    done = world.wait(task_id)
    intruder = stack.customer(group=world.group)
    theirs = world.headers(intruder.key)

    fetched = world.fetch(task_id, key=intruder.key)
    assert fetched.status_code == 404 and fetched.json()["code"] == 3
    unknown = world.fetch("1700000000000123", key=intruder.key)
    assert (unknown.status_code, unknown.json()["code"]) == (404, 3)  # the same answer as for a real one
    listed = world.http.post(f"{stack.url}/mj/task/list-by-condition", json={"ids": [task_id]}, headers=theirs)
    assert listed.json() == []
    seed = world.http.get(f"{stack.url}/mj/task/{task_id}/image-seed", headers=theirs).json()
    assert seed["code"] == 3
    u1 = done["buttons"][0]["customId"]
    before = len(world.submits_received())
    answer = world.submit("action", {"taskId": task_id, "customId": u1}, key=intruder.key)
    assert answer["code"] == 3 and answer["result"] is None
    assert len(world.submits_received()) == before  # nothing sent upstream for them
    # Its image: not with their key, without the signed link.
    image = world.http.get(f"{stack.url}/mj/image/{task_id}", headers=theirs)
    assert image.status_code == 403
    assert world.http.get(f"{stack.url}/mj/image/{task_id}", headers=world.headers()).status_code == 200
    assert stack.balance(intruder.account_id) == 1_000_000


def test_insufficient_balance_is_an_envelope_and_nothing_reaches_the_upstream(world: World) -> None:
    poor = world.stack.customer(credit_usd="0.15", group=world.group)
    answer = world.submit("imagine", {"prompt": "a palace"}, prefix="/mj-fast/mj", key=poor.key)
    assert answer["code"] == 4 and answer["result"] is None
    assert "Insufficient balance" in answer["description"] and "0.20" in answer["description"]
    assert world.submits_received() == []
    (record,) = world.stack.records(poor.account_id)
    assert (record["status"], record["error_code"], record["charge"]) == ("refused", "insufficient_quota", 0)
    assert world.stack.balance(poor.account_id) == 150_000
    # Relax mode costs $0.12: that one the balance pays for.
    assert world.submit("imagine", {"prompt": "a palace"}, prefix="/mj-relax/mj", key=poor.key)["code"] == 1
    assert world.stack.audit(poor.account_id)["ok"]


def _charged(world: World, task_id: str) -> tuple[str, int]:
    world.settle_down()
    record = world.record(task_id)
    return str(record["model"]), int(record["charge"])


def test_the_mode_sets_the_price_and_what_the_upstream_is_asked(world: World) -> None:
    stack = world.stack
    relax = world.imagine("a dune --relax")  # the prompt flag
    assert _charged(world, relax) == ("mj_relax_imagine", 120_000)
    turbo = world.imagine("a dune --relax", prefix="/mj-turbo-origin/mj")  # the path wins over the flag
    assert _charged(world, turbo) == ("mj_turbo_imagine", 400_000)
    sent = world.submits_received()[-1]["body"]["prompt"]
    assert sent.endswith("--turbo") and "--relax" not in sent  # the upstream runs what is billed
    plain = world.imagine("a dune")  # the operator's default
    assert _charged(world, plain) == ("mj_fast_imagine", 200_000)
    stack.admin("mj.key-settings", key_id=world.who.key_id, mode="relax", image_mode="origin")
    keyed = world.imagine("a dune")  # the key's default beats the operator's
    assert _charged(world, keyed) == ("mj_relax_imagine", 120_000)
    done = world.wait(keyed)
    assert done["imageUrl"].startswith(world.mock.url)  # the key's default image mode: origin
    assert world.wait(keyed, prefix="/mj-relay/mj")["imageUrl"].startswith(f"{stack.url}/mj/image/")  # path wins


def test_a_mode_the_group_may_not_use_is_refused(world: World) -> None:
    stack = world.stack
    stack.admin("mj.group-modes", group=world.group, modes=["relax", "fast"])
    answer = world.submit("imagine", {"prompt": "a comet"}, prefix="/mj-turbo/mj")
    assert answer["code"] == 4 and "turbo mode is not available" in answer["description"]
    assert world.submits_received() == []
    assert world.imagine("a comet", prefix="/mj-relax/mj")
    (refused,) = [r for r in stack.records(world.who.account_id) if r["status"] == "refused"]
    assert refused["error_code"] == "mode_not_allowed"
    assert stack.balance(world.who.account_id) == 1_000_000 - 120_000


def test_auth_failures_are_real_http_statuses(world: World) -> None:
    url = f"{world.stack.url}/mj/submit/imagine"
    assert httpx.post(url, json={"prompt": "x"}, timeout=30).status_code == 401
    assert httpx.post(url, json={"prompt": "x"}, headers={"mj-api-secret": "sk-nope"}, timeout=30).status_code == 401
    world.stack.admin("key.disable", key_id=world.who.key_id)
    response = httpx.post(url, json={"prompt": "x"}, headers=world.headers(), timeout=30)
    assert response.status_code == 403
    assert world.submits_received() == []
