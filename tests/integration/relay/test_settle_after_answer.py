"""The local default for non-streaming answers: the answer goes out first, the settle (one transaction:
hold closed, balance settled, record = ledger debit) lands right after it, before the response ends.

The shared test stack settles before answering (as a Lambda function does) so other tests can read
the balance the moment a call returns; this module runs its own stack with the default, reads the
store only once the settle is seen, and checks the money is exactly what settling first gives.

``t-exact`` costs $10 per 1M output tokens and nothing for input: max_tokens=100 reserves exactly
1,000 micro-USD, and the mock writes exactly the tokens asked for with ``[[len=N]]``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer

from tests.support.stack import LocalStack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def after_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("tollway-settle-after")
    local = LocalStack(state, env={"TOLLWAY_SETTLE_AFTER_ANSWER": "true"}).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture
def channel(after_stack: LocalStack, upstream: MockServer) -> Iterator[str]:
    channel_id = after_stack.channel(["t-exact"], upstream.base_url)
    yield channel_id
    after_stack.close_clients()
    after_stack.admin("channel.remove", channel_id=channel_id)


def _settled(stack: LocalStack, account_id: str, records: int) -> list[dict[str, object]]:
    """The account's records once ``records`` of them exist and no hold of it is open."""
    return wait_until(
        lambda: r if len(r := stack.records(account_id)) >= records and not stack.open_holds(account_id) else None,
        what=f"{records} settled requests",
    )


def test_the_answer_comes_first_and_its_settle_lands_exactly(after_stack: LocalStack, channel: str) -> None:
    who = after_stack.customer(credit_usd="1.00")
    client = after_stack.client(who.key)
    answer = client.chat.completions.create(
        model="t-exact", messages=[{"role": "user", "content": "hi [[len=40]]"}], max_tokens=100
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 40
    (record,) = _settled(after_stack, who.account_id, 1)
    assert record["status"] == "ok" and record["charge"] == 400 and record["hold"] == 1_000
    # the record is the request's ledger debit: one item written in the settle's transaction
    assert record["debit"] == 400 and record["entry_ids"] == [f"{record['request_id']}#charge"]
    assert after_stack.balance(who.account_id) == 1_000_000 - 400
    audit = after_stack.audit(who.account_id)
    (report,) = audit["reports"]
    assert audit["ok"] and report["entries"] == 2, audit  # the opening credit and the charge


def test_concurrent_answers_settle_exactly_once_each(after_stack: LocalStack, channel: str) -> None:
    who = after_stack.customer(credit_usd="0.01")  # 10,000 micro-USD: 10 reservations of 1,000
    client = after_stack.client(who.key)

    def one(i: int) -> int:
        reply = client.chat.completions.create(
            model="t-exact", messages=[{"role": "user", "content": f"{i} [[len={10 + i}]]"}], max_tokens=100
        )
        assert reply.usage is not None
        return reply.usage.completion_tokens

    # 8 at a time, 24 in all: each settle gives back most of its hold, so later reserves find money
    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(one, range(24)))
    records = _settled(after_stack, who.account_id, 24)
    assert len(records) == 24 and len({r["request_id"] for r in records}) == 24
    charged = sum(10 * t for t in tokens)
    assert sum(int(str(r["charge"])) for r in records) == charged
    assert after_stack.balance(who.account_id) == 10_000 - charged
    assert after_stack.audit(who.account_id)["ok"]


def test_a_client_that_leaves_with_the_body_is_still_settled(after_stack: LocalStack, channel: str) -> None:
    who = after_stack.customer(credit_usd="1.00")
    body = {"model": "t-exact", "messages": [{"role": "user", "content": "bye [[len=25]]"}], "max_tokens": 100}
    with httpx.Client(timeout=30) as raw:
        with raw.stream(
            "POST", f"{after_stack.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {who.key}"}
        ) as response:
            assert response.status_code == 200
            next(response.iter_raw())  # the body, then the connection is dropped at once
    (record,) = _settled(after_stack, who.account_id, 1)
    assert record["charge"] == 250 and record["status"] == "ok"
    assert after_stack.balance(who.account_id) == 1_000_000 - 250
    assert after_stack.audit(who.account_id)["ok"]


def test_a_settle_the_store_refuses_after_the_answer_is_finished_by_maintenance(after_stack: LocalStack) -> None:
    slow = MockServer(MockConfig(latency_ms=400, tokens_per_s=0))
    with slow:
        slow_channel = after_stack.channel(["t-exact"], slow.base_url, name="slow t-exact")
        who = after_stack.customer(credit_usd="1.00")
        client = after_stack.client(who.key)
        faults = f"{after_stack.info['emulator']}/_emulator/faults"
        answers: list[int] = []

        def call() -> None:
            reply = client.chat.completions.create(
                model="t-exact", messages=[{"role": "user", "content": "late [[len=30]]"}], max_tokens=100
            )
            assert reply.usage is not None
            answers.append(reply.usage.completion_tokens)

        caller = threading.Thread(target=call)
        caller.start()
        # once the hold is taken (the upstream is still thinking), every transaction fails: the settle
        wait_until(lambda: after_stack.open_holds(who.account_id), what="the reserve")
        plan = {"rate": 1.0, "kinds": ["internal"], "operations": ["TransactWriteItems"]}
        httpx.post(faults, json=plan, timeout=10).raise_for_status()
        try:
            caller.join(timeout=60)
            assert answers == [30]  # the customer got the answer
            # the settle could not land (after its retries); it stored its charge on the open hold
            (hold,) = wait_until(
                lambda: [h for h in after_stack.open_holds(who.account_id) if "due_charge" in h],
                what="the due charge",
            )
            assert hold["due_charge"]["N"] == "300"
        finally:
            httpx.post(faults, json={"rate": 0.0}, timeout=10).raise_for_status()
        assert after_stack.balance(who.account_id) == 1_000_000 - 1_000  # still held, never more
        report = after_stack.admin("maintenance.sweep")
        assert report["settled_due"] == 1, report
        (record,) = _settled(after_stack, who.account_id, 1)
        assert record["status"] == "ok" and record["charge"] == 300 and record["debit"] == 300
        assert after_stack.balance(who.account_id) == 1_000_000 - 300
        assert after_stack.audit(who.account_id)["ok"]
        after_stack.close_clients()
        after_stack.admin("channel.remove", channel_id=slow_channel)
