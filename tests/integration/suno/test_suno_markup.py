"""A model markup on Suno prices, over HTTP against the real stack: a submit is charged the list price ×
markup × group ratio, rounded up once, and its usage record names the markup and ratio in
``price_basis`` (the operator's record and the customer's ``/api/usage/logs``)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.suno.conftest import World

pytestmark = pytest.mark.integration


def test_a_marked_up_submit_is_charged_and_recorded_with_its_price_basis(world: World) -> None:
    stack = world.stack
    stack.admin("group.set", name=world.group, ratio="0.7")
    set_ = stack.admin("price.markup-set", pattern="suno_*", multiplier="1.5", note="test")
    try:
        assert {"suno_music", "suno_lyrics"} <= set(set_["models"])
        task_id = world.submit("lyrics", {"prompt": "rain on a tin roof"})
        world.settle_down()
        record = world.record(task_id)
        # $0.01 × 1.5 × 0.7 = $0.0105
        assert (record["model"], record["charge"], record["status"]) == ("suno_lyrics", 10_500, "ok")
        assert record["price_basis"] == {"markup": "1.5", "ratio": "0.7"}
        assert stack.balance(world.who.account_id) == 1_000_000 - 10_500
        logs = httpx.get(
            f"{stack.url}/api/usage/logs", headers={"Authorization": f"Bearer {world.who.key}"}, timeout=30
        ).json()["data"]
        assert [(r["task_id"], r["price_basis"]) for r in logs] == [(task_id, {"markup": "1.5", "ratio": "0.7"})]
    finally:
        stack.admin("price.markup-remove", pattern="suno_*")
    assert stack.audit(world.who.account_id)["ok"]
