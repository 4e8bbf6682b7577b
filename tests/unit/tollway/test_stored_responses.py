"""The stored-response store, on both implementations: the owner finds its item, nobody else does, a
delete forgets it, an expired item is gone, and usage queries never see these items."""

from __future__ import annotations

import time
from typing import Any

from tollway.records import RecordStatus, UsageRecord
from tollway.stored_responses import DynamoResponseStore, MemoryResponseStore, ResponseStore, StoredResponse
from tollway.usage.query import UsageFilter

from tests.support.factories import Stores, make_account, make_key, now_ms


def store_of(stores: Stores) -> ResponseStore:
    if stores.client is None:
        return MemoryResponseStore()
    client: Any = stores.client
    return DynamoResponseStore(client, stores.settings.usage_table)


def item(account: str, response_id: str = "resp_1", *, created_at: int | None = None) -> StoredResponse:
    return StoredResponse(
        response_id=response_id,
        account_id=account,
        channel_id="ch_1",
        model="gpt-x",
        request_id="req_1",
        created_at=now_ms() if created_at is None else created_at,
        input_tokens=70,
        output_tokens=30,
        key_id="key_1",
    )


def test_only_the_owner_finds_its_response_and_a_delete_forgets_it(stores: Stores) -> None:
    store = store_of(stores)
    store.put(item("acct_a"), 31)
    store.put(item("acct_a"), 31)  # a repeat rewrites the same item
    found = store.get("acct_a", "resp_1")
    assert found == item("acct_a", created_at=found.created_at if found else 0)
    assert found is not None and found.context_tokens == 100
    assert store.get("acct_b", "resp_1") is None
    assert store.get("acct_a", "resp_2") is None
    store.delete("acct_a", "resp_1")
    store.delete("acct_a", "resp_1")  # no-op
    assert store.get("acct_a", "resp_1") is None


def test_an_expired_item_is_gone_before_dynamodb_deletes_it(moto: Stores) -> None:
    store = store_of(moto)
    store.put(item("acct_a", created_at=int((time.time() - 40 * 86400) * 1000)), 31)
    assert store.get("acct_a", "resp_1") is None


def test_usage_queries_never_see_stored_response_items(moto: Stores) -> None:
    account = make_account(moto, 1_000_000)
    _, key = make_key(moto, account)
    store = store_of(moto)
    store.put(item(account.account_id), 31)
    record = UsageRecord(
        request_id="req_01ZZZZZZZZZZZZZZZZZZZZZZZZ",
        created_at=now_ms(),
        account_id=account.account_id,
        key_id=key.key_id,
        endpoint="responses",
        status=RecordStatus.OK,
        http_status=200,
    )
    moto.ledger.put_record(record)
    by_account = moto.usage.query(UsageFilter(account_id=account.account_id, limit=100))
    by_key = moto.usage.query(UsageFilter(account_id=account.account_id, key_id=key.key_id, limit=100))
    assert [r.request_id for r in by_account.records] == [record.request_id]
    assert [r.request_id for r in by_key.records] == [record.request_id]
