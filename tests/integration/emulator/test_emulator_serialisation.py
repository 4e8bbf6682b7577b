"""Conditional writes and transactions are atomic under concurrency, as on DynamoDB.

16 threads race 50 debits of 1 against a balance of 10: exactly 10 may win. `--switch-interval`
makes the emulator switch threads every few microseconds, and the larger race (32 threads, 400
debits, balance 200) is the one that reliably catches a missing lock: with the lock removed it
overspent, lost or duplicated rows, or answered HTTP 500 in 6 runs out of 6 (docs/local-emulator.md).
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

# (balance, attempts, threads): the brief's race, and the stress race.
RACES = {"brief": (10, 50, 16), "stress": (200, 400, 32)}


def _start(tmp_path_factory: pytest.TempPathFactory, extra: tuple[str, ...]) -> EmulatorProcess:
    template = Path(__file__).resolve().parents[3] / "template.yaml"
    return EmulatorProcess(tmp_path_factory.mktemp("race"), template, extra_args=extra).start()


@pytest.fixture(scope="module")
def default_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emulator = _start(tmp_path_factory, ())
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def preempting_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emulator = _start(tmp_path_factory, ("--switch-interval", "0.000005"))
    yield emulator
    emulator.stop()


_POOLS: dict[int, list[Any]] = {}


def _client_pool(emulator: EmulatorProcess, size: int) -> list[Any]:
    """One client per racing thread (retries off), made once per emulator: boto3 clients are slow to build."""
    pool = _POOLS.setdefault(emulator.pid, [])
    while len(pool) < size:
        pool.append(emulator.client("dynamodb", max_attempts=1, max_pool_connections=1))
    return pool[:size]


def _race(emulator: EmulatorProcess, debit: Any, balance: int, attempts: int, threads: int) -> tuple[Counter[str], str]:
    account = f"acct-{uuid.uuid4()}"
    emulator.client("dynamodb").put_item(
        TableName="AccountsTable", Item={"account_id": {"S": account}, "balance": {"N": str(balance)}}
    )
    local = threading.local()
    spare = list(_client_pool(emulator, threads))
    lock = threading.Lock()

    def attempt(index: int) -> str:
        if not hasattr(local, "client"):
            with lock:
                local.client = spare.pop()
        try:
            debit(local.client, account, index)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(threads) as pool:
        outcomes = Counter(pool.map(attempt, range(attempts)))
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


# The brief's race on both emulators; the stress race where it bites, with forced preemption.
CASES = [
    *(
        pytest.param(mode, "brief", id=f"{mode}-brief-{round_}")
        for mode in ("default", "preempting")
        for round_ in (1, 2)
    ),
    pytest.param("preempting", "stress", id="preempting-stress"),
]


@pytest.mark.parametrize(("mode", "race"), CASES)
def test_conditional_decrements_never_overspend(request: pytest.FixtureRequest, mode: str, race: str) -> None:
    racing_emulator: EmulatorProcess = request.getfixturevalue(f"{mode}_emulator")
    balance, attempts, threads = RACES[race]

    def debit(client: Any, account: str, index: int) -> None:
        client.update_item(**_debit_update(account))

    outcomes, account = _race(racing_emulator, debit, balance, attempts, threads)

    assert outcomes == Counter({"ok": balance, "ConditionalCheckFailedException": attempts - balance})
    assert _balance(racing_emulator, account) == 0


@pytest.mark.parametrize(("mode", "race"), CASES)
def test_transactions_neither_overspend_nor_lose_rows(request: pytest.FixtureRequest, mode: str, race: str) -> None:
    racing_emulator: EmulatorProcess = request.getfixturevalue(f"{mode}_emulator")
    balance, attempts, threads = RACES[race]

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

    outcomes, account = _race(racing_emulator, debit, balance, attempts, threads)
    rows = []
    for page in (
        racing_emulator.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName="LedgerTable",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": {"S": account}},
            ConsistentRead=True,
        )
    ):
        rows.extend(page["Items"])

    assert outcomes == Counter({"ok": balance, "TransactionCanceledException": attempts - balance})
    assert _balance(racing_emulator, account) == 0
    assert len(rows) == balance
