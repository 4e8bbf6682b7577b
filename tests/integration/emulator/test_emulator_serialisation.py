"""Conditional writes and transactions are atomic under concurrency, as on DynamoDB.

16 threads race 50 debits of 1 against a balance of 10: exactly 10 may win. Unserialised moto loses
this race (overspends, loses rows, answers HTTP 500; see docs/local-emulator.md). `--switch-interval`
makes the emulator switch threads every few microseconds, so a missing lock shows up reliably.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from tollway_local.emulator import EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

START_BALANCE = 10
ATTEMPTS = 50
THREADS = 16


@pytest.fixture(scope="module", params=["default", "preempting"])
def racing_emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    template = Path(__file__).resolve().parents[3] / "template.yaml"
    extra = ("--switch-interval", "0.000005") if request.param == "preempting" else ()
    with EmulatorProcess(tmp_path_factory.mktemp("race"), template, extra_args=extra) as emulator:
        yield emulator


def _race(emulator: EmulatorProcess, debit: Any) -> tuple[Counter[str], str]:
    account = f"acct-{uuid.uuid4()}"
    emulator.client("dynamodb").put_item(
        TableName="AccountsTable", Item={"account_id": {"S": account}, "balance": {"N": str(START_BALANCE)}}
    )
    local = threading.local()

    def attempt(index: int) -> str:
        if not hasattr(local, "client"):
            local.client = emulator.client("dynamodb", max_attempts=1)
        try:
            debit(local.client, account, index)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = Counter(pool.map(attempt, range(ATTEMPTS)))
    return outcomes, account


def _balance(emulator: EmulatorProcess, account: str) -> int:
    item = emulator.client("dynamodb").get_item(
        TableName="AccountsTable", Key={"account_id": {"S": account}}, ConsistentRead=True
    )["Item"]
    return int(item["balance"]["N"])


def _debit_update(account: str) -> dict[str, Any]:
    return {
        "TableName": "AccountsTable",
        "Key": {"account_id": {"S": account}},
        "UpdateExpression": "ADD balance :minus",
        "ConditionExpression": "balance >= :amount",
        "ExpressionAttributeValues": {":minus": {"N": "-1"}, ":amount": {"N": "1"}},
    }


@pytest.mark.parametrize("round_", range(3))
def test_conditional_decrements_never_overspend(racing_emulator: EmulatorProcess, round_: int) -> None:
    def debit(client: Any, account: str, index: int) -> None:
        client.update_item(**_debit_update(account))

    outcomes, account = _race(racing_emulator, debit)

    assert outcomes == Counter({"ok": START_BALANCE, "ConditionalCheckFailedException": ATTEMPTS - START_BALANCE})
    assert _balance(racing_emulator, account) == 0


@pytest.mark.parametrize("round_", range(3))
def test_transactions_neither_overspend_nor_lose_rows(racing_emulator: EmulatorProcess, round_: int) -> None:
    def debit(client: Any, account: str, index: int) -> None:
        client.transact_write_items(
            TransactItems=[
                {"Update": _debit_update(account)},
                {
                    "Put": {
                        "TableName": "LedgerTable",
                        "Item": {"account_id": {"S": account}, "entry_id": {"S": f"debit-{index:03d}"}},
                        "ConditionExpression": "attribute_not_exists(entry_id)",
                    }
                },
            ]
        )

    outcomes, account = _race(racing_emulator, debit)
    rows = racing_emulator.client("dynamodb").query(
        TableName="LedgerTable",
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": {"S": account}},
        ConsistentRead=True,
    )["Items"]

    assert outcomes == Counter({"ok": START_BALANCE, "TransactionCanceledException": ATTEMPTS - START_BALANCE})
    assert _balance(racing_emulator, account) == 0
    assert len(rows) == START_BALANCE
