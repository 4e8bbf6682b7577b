"""The emulator's fault mode over HTTP: off by default; a seeded fraction of calls answered with
DynamoDB's retryable errors, or applied with the response lost; chosen per operation, on the command
line or at run time — and tollway's ledger staying exact through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tollway.dynamo import make_client
from tollway.ids import account_id, movement_id
from tollway.ledger.dynamodb import DynamoLedger
from tollway.settings import Settings
from tollway.tables import Tables
from tollway_local.emulator import EmulatorProcess

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def _once(emulator: EmulatorProcess) -> Any:
    """A client that sends each call once (botocore's ``max_attempts`` counts retries, not attempts)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _faults(emulator: EmulatorProcess, **plan: Any) -> dict[str, Any]:
    response = httpx.post(f"{emulator.endpoint}/_emulator/faults", json=plan, timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _put(client: Any, n: int) -> None:
    client.put_item(TableName="ConfigTable", Item={"pk": {"S": f"f{n}"}, "sk": {"S": "x"}})


def _error(call: Any) -> str:
    with pytest.raises(ClientError) as failed:
        call()
    return str(failed.value.response["Error"]["Code"])


def test_faults_are_off_by_default_then_chosen_per_operation_and_kind(emulator: EmulatorProcess) -> None:
    once = _once(emulator)
    for n in range(30):
        _put(once, n)
    assert emulator.stats()["faults"]["counts"] == {}

    _faults(emulator, rate=1.0, kinds=["throttling"], operations=["PutItem"])
    assert _error(lambda: _put(once, 99)) == "ThrottlingException"
    assert "Item" in once.get_item(TableName="ConfigTable", Key={"pk": {"S": "f1"}, "sk": {"S": "x"}})  # reads pass
    _faults(emulator, rate=1.0, kinds=["throughput"], operations=["PutItem"])
    assert _error(lambda: _put(once, 99)) == "ProvisionedThroughputExceededException"
    _faults(emulator, rate=1.0, kinds=["internal"], operations=["PutItem"])
    assert _error(lambda: _put(once, 99)) == "InternalServerError"
    assert "Item" not in once.get_item(TableName="ConfigTable", Key={"pk": {"S": "f99"}, "sk": {"S": "x"}})

    _faults(emulator, rate=1.0, kinds=["conflict"], operations=["TransactWriteItems"])
    with pytest.raises(ClientError) as cancelled:
        once.transact_write_items(
            TransactItems=[{"Put": {"TableName": "ConfigTable", "Item": {"pk": {"S": "t"}, "sk": {"S": "x"}}}}]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert cancelled.value.response["CancellationReasons"][0]["Code"] == "TransactionConflict"

    _faults(emulator, rate=1.0, kinds=["lost"], operations=["PutItem"])
    assert _error(lambda: _put(once, 77)) == "InternalServerError"  # the answer says it failed...
    assert "Item" in once.get_item(TableName="ConfigTable", Key={"pk": {"S": "f77"}, "sk": {"S": "x"}})  # ...it landed
    assert emulator.stats()["faults"]["counts"] == {"PutItem.lost": 1}

    _faults(emulator, rate=0)
    _put(once, 100)


def test_a_seeded_rate_faults_about_that_fraction_the_same_way_each_time(emulator: EmulatorProcess) -> None:
    once = _once(emulator)

    def outcomes() -> list[str]:
        _faults(emulator, rate=0.3, seed=11, kinds=["throttling", "internal"], operations=["PutItem"])
        seen = []
        for n in range(60):
            try:
                _put(once, n)
                seen.append("ok")
            except ClientError as exc:
                seen.append(str(exc.response["Error"]["Code"]))
        return seen

    first = outcomes()
    assert first == outcomes()
    assert 8 < sum(o != "ok" for o in first) < 30


def test_the_command_line_turns_faults_on(tmp_path: Path) -> None:
    args = ("--faults", "1", "--fault-kinds", "throttling", "--fault-ops", "DeleteItem")
    with EmulatorProcess(tmp_path, TEMPLATE, extra_args=args) as emulator:
        once = _once(emulator)
        _put(once, 1)
        key = {"pk": {"S": "f1"}, "sk": {"S": "x"}}
        assert _error(lambda: once.delete_item(TableName="ConfigTable", Key=key)) == "ThrottlingException"


def test_the_ledger_credits_once_through_lost_responses_and_faults(emulator: EmulatorProcess) -> None:
    settings = Settings(aws_endpoint_url=emulator.endpoint)
    ledger = DynamoLedger(make_client(settings), Tables.from_settings(settings))
    account = account_id()
    emulator.client("dynamodb").put_item(
        TableName="AccountsTable",
        Item={"account_id": {"S": account}, "status": {"S": "active"}, "balance": {"N": "0"}},
    )
    # every credit's transaction lands with its answer lost once, then the retry meets its own write
    for n in range(5):
        _faults(emulator, rate=1.0, kinds=["lost"], operations=["TransactWriteItems"], limit=1)
        ledger.credit(account, 100, movement_id=movement_id(), reason=f"c{n}", actor=None, now=n + 1)
    _faults(emulator, rate=0.3, seed=3)
    for n in range(10):
        movement = ledger.credit(account, 10, movement_id=movement_id(), reason=f"d{n}", actor=None, now=n + 1)
        ledger.write_history(movement)
        ledger.close(movement.movement_id)
    _faults(emulator, rate=0)
    assert ledger.balance(account) == 600
