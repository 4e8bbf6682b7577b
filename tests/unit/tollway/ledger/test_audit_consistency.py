"""The audit under live traffic (issue 11 defect 7): requests moving money between its reads must not
be reported as differences, a real difference must be, and the holds table is read once per round —
not once per account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tollway.admin.registry import AdminContext
from tollway.ledger.dynamodb import DynamoLedger
from tollway.tables import Tables

from tests.conftest import TEMPLATE
from tests.support.factories import Stores, make_account, make_key, moto_stores
from tests.unit.admin.helpers import run, services_of
from tests.unit.tollway.ledger.test_ledger_contract import hold_for


class Traffic:
    """A client that lets a request reserve on the account while the audit reads its ledger entries
    (between the audit's reads), ``times`` times; and counts scans of the holds table."""

    def __init__(self, client: Any, tables: Tables) -> None:
        self._client, self._tables = client, tables
        self.during_entries: Callable[[], None] | None = None
        self.times = 0
        self.holds_scans = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name != "get_paginator":
            return attr

        def paginator(operation: str) -> Any:
            real = attr(operation)
            outer = self

            class Pages:
                def paginate(self, **kwargs: Any) -> Iterator[Any]:
                    if operation == "scan" and kwargs.get("TableName") == outer._tables.holds:
                        outer.holds_scans += 1
                    yield from real.paginate(**kwargs)
                    if operation == "query" and kwargs.get("TableName") == outer._tables.ledger:
                        if outer.times > 0 and outer.during_entries is not None:
                            outer.times -= 1
                            outer.during_entries()

            return Pages()

        return paginator


@pytest.fixture
def traffic() -> Iterator[tuple[Stores, Traffic, AdminContext]]:
    with moto_stores(TEMPLATE) as stores:
        tables = Tables.from_settings(stores.settings)
        spy = Traffic(stores.client, tables)
        ledger = DynamoLedger(spy, tables)  # type: ignore[arg-type]
        svc = services_of(stores)
        svc.ledger = ledger
        yield stores, spy, AdminContext(services=svc, actor="local")


def test_requests_moving_money_between_the_reads_are_not_differences(
    traffic: tuple[Stores, Traffic, AdminContext],
) -> None:
    stores, spy, admin = traffic
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    spy.during_entries = lambda: stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 1_000))
    spy.times = 3  # a request lands during the first reading and during each of the next two

    result = run(admin, "audit.run", account_id=account.account_id)

    assert result["ok"], result["differences"]
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 3_000  # the requests did land


def test_a_real_difference_is_still_reported(traffic: tuple[Stores, Traffic, AdminContext]) -> None:
    stores, _, admin = traffic
    account = make_account(stores, 1_000)
    stores.client.update_item(  # type: ignore[attr-defined]
        TableName=stores.settings.accounts_table,
        Key={"account_id": {"S": account.account_id}},
        UpdateExpression="ADD balance :x",
        ExpressionAttributeValues={":x": {"N": "5"}},
    )

    result = run(admin, "audit.run", account_id=account.account_id)

    assert not result["ok"] and [d["difference"] for d in result["differences"]] == [5]


def test_the_holds_table_is_scanned_once_for_all_accounts(traffic: tuple[Stores, Traffic, AdminContext]) -> None:
    stores, spy, admin = traffic
    for _ in range(5):
        account = make_account(stores, 1_000)
        _, key = make_key(stores, account)
        stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 100))

    result = run(admin, "audit.run")

    assert result["ok"] and result["accounts"] == 5
    assert spy.holds_scans == 1
