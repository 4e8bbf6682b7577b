"""Keys changing while traffic flows (issue 11 defect 1): 60 concurrent requests on 3 keys of one
account while 4 operator threads rename its keys — every key change moves the account's key_rev, so
cached copies keep going stale between the reserve's reread and its retry. Every request is answered
(200, never a 500) and has exactly one usage record; the ledger balances."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_concurrent_requests_while_keys_are_renamed_are_all_answered_and_recorded(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-exact"], mock.base_url)
    first = stack.customer(credit_usd="10.00")
    keys = [first.key] + [stack.admin("key.create", account_id=first.account_id, name=f"k{n}")["key"] for n in range(2)]
    key_ids = [k["key_id"] for k in stack.admin("key.list", account_id=first.account_id)["keys"]]
    clients = [stack.client(k) for k in keys]
    stop = threading.Event()
    renames = [0]

    def operator(n: int) -> None:
        while not stop.is_set():
            stack.admin("key.update", key_id=key_ids[(n + renames[0]) % len(key_ids)], name=f"r{renames[0]}")
            renames[0] += 1

    def one(i: int) -> int:
        try:
            clients[i % 3].chat.completions.create(
                model="t-exact", messages=[{"role": "user", "content": f"churn {i} [[len=10]]"}], max_tokens=10
            )
        except openai.APIStatusError as exc:
            return exc.status_code
        return 200

    operators = [threading.Thread(target=operator, args=(n,), daemon=True) for n in range(4)]
    for thread in operators:
        thread.start()
    try:
        with ThreadPoolExecutor(max_workers=60) as pool:
            statuses = list(pool.map(one, range(60)))
    finally:
        stop.set()
        for thread in operators:
            thread.join()

    assert renames[0] > 4
    assert statuses == [200] * 60
    records = stack.wait_records(first.account_id, 60)
    assert len(records) == 60 and all(r["status"] == "ok" for r in records)
    assert not stack.open_holds(first.account_id)
    assert stack.audit(first.account_id)["ok"]
