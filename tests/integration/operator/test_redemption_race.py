"""Twenty requests race for one redemption code over HTTP against the real local stack: the code credits
exactly once. (The emulator serialises requests as DynamoDB serialises writes to one item; what is
tested is that tollway's own logic — a conditional flip of the code inside the crediting transaction,
not a read-then-write — leaves no second winner.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.stack import Customer, LocalStack

pytestmark = pytest.mark.integration


def redeem(stack: LocalStack, key: str, code: str) -> httpx.Response:
    with httpx.Client(timeout=60) as http:
        return http.post(f"{stack.url}/api/redeem", json={"code": code}, headers={"authorization": f"Bearer {key}"})


def test_twenty_racing_redemptions_of_one_code_credit_once(stack: LocalStack) -> None:
    (code,) = stack.admin("redeem.create", value_usd="1.00", count=1, name="race")["codes"]
    customers: list[Customer] = [stack.customer(credit_usd="0.10") for _ in range(20)]
    start = threading.Barrier(20)

    def attempt(who: Customer) -> httpx.Response:
        start.wait()
        return redeem(stack, who.key, code)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(attempt, customers))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 19, [r.text for r in responses if r.status_code not in (200, 409)]
    (winner,) = [who for who, r in zip(customers, responses, strict=True) if r.status_code == 200]
    body = next(r.json() for r in responses if r.status_code == 200)
    assert body["credited"] == 1_000_000 and body["balance"] == 1_100_000
    losers = [r.json()["error"] for r in responses if r.status_code == 409]
    assert {(e["type"], e["code"]) for e in losers} == {("invalid_request_error", "code_used")}
    balances = {who.account_id: stack.balance(who.account_id) for who in customers}
    assert balances[winner.account_id] == 1_100_000
    assert sum(balances.values()) == 20 * 100_000 + 1_000_000  # one credit in all
    audit = stack.audit()
    assert audit["ok"], audit


def test_redeem_refusals_and_a_second_try(stack: LocalStack) -> None:
    run = stack.admin("redeem.create", value_usd="0.50", count=2, name="refusals")
    first, second = run["codes"]
    who = stack.customer(credit_usd="0.00")
    assert redeem(stack, who.key, first).status_code == 200
    again = redeem(stack, who.key, first)
    assert again.status_code == 409 and again.json()["error"]["code"] == "code_used"
    unknown = redeem(stack, who.key, "rdm-" + "x" * 32)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "code_invalid"
    stack.admin("redeem.disable", batch_id=run["batch_id"])
    disabled = redeem(stack, who.key, second)
    assert disabled.status_code == 400 and disabled.json()["error"]["code"] == "code_disabled"
    with httpx.Client(timeout=30) as http:
        anonymous = http.post(f"{stack.url}/api/redeem", json={"code": second})
    assert anonymous.status_code == 401
    assert stack.balance(who.account_id) == 500_000
    listed = stack.admin("redeem.list", batch_id=run["batch_id"])
    assert listed["counts"] == {"used": 1, "disabled": 1}
    assert first not in str(listed) and second not in str(listed)
    assert stack.audit(who.account_id)["ok"]
