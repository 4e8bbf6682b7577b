"""boto3 may retry a write that already succeeded (the response was lost). Simulate exactly that — the
write applied, then sent again — and check that the ledger changes nothing the second time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from tollway.ids import movement_id
from tollway.ledger.dynamodb import DynamoLedger
from tollway.tables import Tables

from tests.conftest import TEMPLATE
from tests.support.factories import Stores, make_account, make_key, moto_stores, now_ms
from tests.unit.tollway.ledger.test_ledger_contract import hold_for, record_for


class LostResponses:
    """A DynamoDB client whose write responses are lost once: each write is applied, then re-sent, and
    the caller sees only the re-sent call's outcome."""

    WRITES = frozenset({"transact_write_items", "batch_write_item", "put_item", "delete_item", "update_item"})

    def __init__(self, client: Any) -> None:
        self._client = client
        self.repeated: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in self.WRITES:
            return attr

        def twice(**kwargs: Any) -> Any:
            try:
                attr(**kwargs)
            except Exception:  # noqa: S110 - the first outcome is "lost" either way
                pass
            self.repeated.append(name)
            return attr(**kwargs)

        return twice


@pytest.fixture
def doubled() -> Iterator[tuple[Stores, DynamoLedger, LostResponses]]:
    with moto_stores(TEMPLATE) as stores:
        proxy = LostResponses(stores.client)
        ledger = DynamoLedger(proxy, Tables.from_settings(stores.settings))  # type: ignore[arg-type]
        yield stores, ledger, proxy


def test_repeated_reserve_settle_history_and_close_change_nothing(
    doubled: tuple[Stores, DynamoLedger, LostResponses],
) -> None:
    stores, ledger, proxy = doubled
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account, remaining=800)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300, limited=True)
    ledger.reserve(hold)
    assert stores.ledger.balance(account.account_id) == 700
    assert stores.accounts.get_key(key.key_hash).remaining == 500  # type: ignore[union-attr]
    movement = ledger.settle(hold, 120, record_for(hold), now=now_ms())
    # the settle's one transaction landed, its answer was lost, and the repeat found the hold closed:
    # the answer is the record that settle wrote (the debit it carries), and nothing moved twice
    assert movement is not None and movement.charge == 120 and movement.closed
    assert movement.record is not None and movement.record.debit == 120
    assert stores.ledger.balance(account.account_id) == 880
    assert stores.accounts.get_key(key.key_hash).remaining == 680  # type: ignore[union-attr]
    ledger.write_history(movement)
    ledger.close(movement.movement_id)
    assert proxy.repeated[:2] == ["transact_write_items", "transact_write_items"]  # reserve, settle
    assert "batch_write_item" not in proxy.repeated  # the settle wrote the history itself
    assert not [h for h in stores.ledger.holds() if h.hold_id == hold.hold_id]
    report = stores.ledger.audit(account.account_id)
    assert report.ok and report.entries == 2 and report.entries_total == 880


def test_a_repeated_settle_with_expiring_records_writes_its_charge_entry_once(
    doubled: tuple[Stores, DynamoLedger, LostResponses],
) -> None:
    stores, _, proxy = doubled
    ledger = DynamoLedger(proxy, Tables.from_settings(stores.settings), usage_ttl_days=30)  # type: ignore[arg-type]
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    ledger.reserve(hold)
    movement = ledger.settle(hold, 120, record_for(hold), now=now_ms())
    assert movement is not None and movement.charge == 120 and movement.closed
    entry = stores.client.get_item(
        TableName=stores.settings.ledger_table,
        Key={"account_id": {"S": account.account_id}, "entry_id": {"S": f"{hold.hold_id}#charge"}},
        ConsistentRead=True,
    )["Item"]
    assert entry["amount"]["N"] == "-120"
    record = stores.client.get_item(
        TableName=stores.settings.usage_table,
        Key={"account_id": {"S": account.account_id}, "request_id": {"S": hold.hold_id}},
        ConsistentRead=True,
    )["Item"]
    assert "debit" not in record and "expires_at" in record  # the record may expire; the entry stays
    assert stores.ledger.balance(account.account_id) == 880
    report = stores.ledger.audit(account.account_id)
    assert report.ok and report.entries == 2 and report.entries_total == 880


def test_repeated_credit_and_overrun_change_nothing(doubled: tuple[Stores, DynamoLedger, LostResponses]) -> None:
    stores, ledger, _ = doubled
    account = make_account(stores, 100)
    _, key = make_key(stores, account)
    credit = ledger.credit(account.account_id, 400, movement_id=movement_id(), reason="topup", actor="t", now=now_ms())
    ledger.write_history(credit)
    ledger.close(credit.movement_id)
    assert stores.ledger.balance(account.account_id) == 500
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    ledger.reserve(hold)
    movement = ledger.settle(hold, 450, record_for(hold), now=now_ms())  # overrun by 150, all payable
    assert movement is not None and movement.charge == 450 and movement.shortfall == 0
    ledger.write_history(movement)
    ledger.close(movement.movement_id)
    assert stores.ledger.balance(account.account_id) == 50
    assert stores.ledger.audit(account.account_id).ok


def test_a_repeated_reserve_on_key_rev_changes_nothing(doubled: tuple[Stores, DynamoLedger, LostResponses]) -> None:
    stores, ledger, proxy = doubled
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = dataclasses.replace(hold_for(account.account_id, key.key_hash, key.key_id, 300), key_rev=0)
    ledger.reserve(hold)  # the unlimited key's reserve: account (key_rev condition) + hold, sent twice
    assert proxy.repeated == ["transact_write_items"]
    assert stores.ledger.balance(account.account_id) == 700
    assert len([h for h in stores.ledger.holds() if h.hold_id == hold.hold_id]) == 1
