"""A model markup on Midjourney prices, over HTTP against the real stack: a submit is charged the list
price × markup × group ratio, rounded up once, and its usage record (the operator's and the customer's
``/api/usage/logs``) names the markup and ratio in ``price_basis``, as a token-priced record does."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.mj.conftest import World

pytestmark = pytest.mark.integration

FAST_IMAGINE = 200_000  # $0.20, mj_fast_imagine in the shipped price file


def test_a_marked_up_submit_is_charged_and_recorded_with_its_price_basis(world: World) -> None:
    stack = world.stack
    stack.admin("group.set", name=world.group, ratio="0.8")
    set_ = stack.admin("price.markup-set", pattern="mj_fast_*", multiplier="2.5", note="test")
    try:
        assert "mj_fast_imagine" in set_["models"]
        task_id = world.imagine("a lighthouse at dusk", prefix="/mj-fast/mj")
        world.settle_down()
        record = world.record(task_id)
        # $0.20 × 2.5 × 0.8 = $0.40 exactly: the hold and the charge are the same product.
        assert (record["model"], record["charge"], record["status"]) == ("mj_fast_imagine", 400_000, "ok")
        assert record["price_basis"] == {"markup": "2.5", "ratio": "0.8"}
        assert stack.balance(world.who.account_id) == 1_000_000 - 400_000
        logs = httpx.get(
            f"{stack.url}/api/usage/logs", headers={"Authorization": f"Bearer {world.who.key}"}, timeout=30
        ).json()["data"]
        assert [(r["task_id"], r["price_basis"]) for r in logs] == [(task_id, {"markup": "2.5", "ratio": "0.8"})]
    finally:
        stack.admin("price.markup-remove", pattern="mj_fast_*")
    # Back at the list price: no basis beyond the group's ratio.
    plain = world.imagine("a lighthouse at dawn", prefix="/mj-fast/mj")
    world.settle_down()
    record = world.record(plain)
    assert (record["charge"], record["price_basis"]) == (int(FAST_IMAGINE * 0.8), {"ratio": "0.8"})
    assert stack.audit(world.who.account_id)["ok"]
