"""50 concurrent requests from one key whose balance pays for exactly 10 of them.

``t-exact`` has no input price and costs $10 per 1M output tokens, so a request with max_tokens=100
reserves exactly 1,000 micro-USD, and the mock produces exactly 100 tokens: reservation = charge.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_fifty_concurrent_requests_serve_exactly_ten(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-exact"], mock.base_url)
    who = stack.customer(credit_usd="0.01")  # 10,000 micro-USD = 10 requests of 1,000
    client = stack.client(who.key)

    def one(i: int) -> int:
        try:
            client.chat.completions.create(
                model="t-exact", messages=[{"role": "user", "content": f"request {i} [[len=100]]"}], max_tokens=100
            )
        except openai.APIStatusError as exc:
            return exc.status_code
        return 200

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(50)))

    assert statuses.count(200) == 10
    assert statuses.count(402) == 40
    assert stack.balance(who.account_id) == 0
    records = stack.wait_records(who.account_id, 50)
    assert len(records) == 50
    assert sorted(r["status"] for r in records) == ["ok"] * 10 + ["refused"] * 40
    assert sum(r["charge"] for r in records) == 10_000
    assert all(r["http_status"] == 402 for r in records if r["status"] == "refused")
    assert not stack.open_holds(who.account_id)
    audit = stack.audit(who.account_id)
    assert audit["ok"], audit
    assert mock.stats()["requests"].get("/v1/chat/completions", 0) == 10
