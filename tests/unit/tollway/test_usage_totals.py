"""Spend totals through the one usage query module: by scope, by day and model, capped and marked."""

from __future__ import annotations

from tollway.records import RecordStatus, UsageRecord
from tollway.usage.query import UsageFilter
from tollway.usage.totals import spend

from tests.support.factories import Stores, make_account, make_key, now_ms


def record(n: int, account: str, key: str, charge: int, model: str, at: int) -> UsageRecord:
    from tollway.ids import request_id

    return UsageRecord(
        request_id=request_id(at)[:-4] + f"{n:04d}",
        created_at=at,
        account_id=account,
        key_id=key,
        endpoint="chat.completions",
        status=RecordStatus.OK,
        http_status=200,
        model=model,
        charge=charge,
    )


def test_spend_sums_a_keys_records_by_day_and_model_and_caps_reads(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    _, other = make_key(stores, account)
    day = 86_400_000
    base = now_ms() - 3 * day
    for n in range(5):
        stores.ledger.put_record(record(n, account.account_id, key.key_id, 10 + n, "m1" if n % 2 else "m2", base + n))
    stores.ledger.put_record(record(9, account.account_id, key.key_id, 100, "m1", base + day))
    stores.ledger.put_record(record(8, account.account_id, other.key_id, 1000, "m1", base + 2))
    mine = spend(stores.usage, UsageFilter(account_id=account.account_id, key_id=key.key_id), max_records=100)
    assert mine.total == 10 + 11 + 12 + 13 + 14 + 100 and mine.records == 6 and mine.complete
    assert sorted(sum(v.values()) for v in mine.by_day.values()) == [60, 100]
    everyone = spend(stores.usage, UsageFilter(account_id=account.account_id), max_records=100)
    assert everyone.total == mine.total + 1000
    capped = spend(stores.usage, UsageFilter(account_id=account.account_id), max_records=3)
    assert capped.records == 3 and not capped.complete
    ranged = spend(
        stores.usage,
        UsageFilter(account_id=account.account_id, start_ms=base + day, end_ms=base + 2 * day),
        max_records=10,
    )
    assert ranged.total == 100
