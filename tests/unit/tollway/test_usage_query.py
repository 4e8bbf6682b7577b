"""The usage query by key: a key's records are its account's partition filtered by key (no per-key
index, which would cost every request a write unit) — found with or without the account, paged by
cursor across the other keys' records without losing or repeating one."""

from __future__ import annotations

from tollway.ids import request_id
from tollway.records import RecordStatus, UsageRecord
from tollway.usage.query import UsageFilter

from tests.support.factories import Stores, make_account, make_key, now_ms


def put(stores: Stores, account: str, key: str, at: int, n: int) -> str:
    rid = request_id(at)[:-4] + f"{n:04d}"
    stores.ledger.put_record(
        UsageRecord(
            request_id=rid,
            created_at=at,
            account_id=account,
            key_id=key,
            endpoint="chat.completions",
            status=RecordStatus.OK,
            http_status=200,
            model="m",
            charge=n,
        )
    )
    return rid


def test_a_keys_records_page_through_its_accounts_partition_with_or_without_the_account(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, mine = make_key(stores, account)
    _, other = make_key(stores, account)
    stranger = make_account(stores, 1_000_000)
    _, theirs = make_key(stores, stranger)
    base = now_ms() - 60_000
    wanted = []
    for n in range(12):
        # interleaved: two of the other key's records between each of mine
        wanted.append(put(stores, account.account_id, mine.key_id, base + 3 * n, n))
        put(stores, account.account_id, other.key_id, base + 3 * n + 1, 100 + n)
        put(stores, account.account_id, other.key_id, base + 3 * n + 2, 200 + n)
        put(stores, stranger.account_id, theirs.key_id, base + 3 * n, 300 + n)
    expected = sorted(wanted, reverse=True)

    for scope in (UsageFilter(key_id=mine.key_id), UsageFilter(account_id=account.account_id, key_id=mine.key_id)):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = stores.usage.query(
                UsageFilter(account_id=scope.account_id, key_id=scope.key_id, limit=5, cursor=cursor)
            )
            assert all(r.key_id == mine.key_id for r in page.records)
            seen.extend(r.request_id for r in page.records)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected
        assert pages == 3


def test_an_unknown_key_has_no_records(stores: Stores) -> None:
    assert stores.usage.query(UsageFilter(key_id="key_unknown")).records == []
