"""TransactWriteItems with the undo log (`transactions.py`) against moto's own, in-process.

Each scenario runs twice on a fresh moto, once as moto ships it (whole-table copies) and once with
the undo log, and every answer (result, error code, message, CancellationReasons with the items
ReturnValuesOnConditionCheckFailure asked for) and every table's full state after each call must be
the same. Then the cost: objects deep-copied per transaction must not grow with the table.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from tollway_local.emulator import transactions
from tollway_local.emulator.backends import Backends

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REGION = "us-east-1"
ACCOUNTS = {
    "TableName": "Accounts",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
RECORDS = {
    "TableName": "Records",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
STREAMED = {
    "TableName": "Streamed",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


@pytest.fixture(autouse=True)
def _moto_as_shipped() -> Iterator[None]:
    """Every test starts (and ends) with moto's own TransactWriteItems."""
    transactions.uninstall()
    yield
    transactions.uninstall()


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _debit(account: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "Accounts",
            "Key": {"id": S(account)},
            "UpdateExpression": "SET balance = balance - :a, version = version + :one",
            "ConditionExpression": "balance >= :a",
            "ExpressionAttributeValues": {":a": N(amount), ":one": N(1)},
            **extra,
        }
    }


def _put_record(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": "Records",
            "Item": {"pk": S(pk), "sk": S(sk), "cost": N(7), "note": S("x" * 40)},
            "ConditionExpression": "attribute_not_exists(pk)",
            **extra,
        }
    }


def _all_old() -> dict[str, str]:
    return {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


# Each step is one TransactWriteItems; the comments say what moto answers (checked in both runs).
SCENARIO: list[list[dict[str, Any]]] = [
    # 0 all applied: a debit, a new record, a delete of an existing record, a check
    [
        _debit("a1", 100),
        _put_record("a1", "r-new"),
        {"Delete": {"TableName": "Records", "Key": {"pk": S("a1"), "sk": S("r-old")}}},
        {
            "ConditionCheck": {
                "TableName": "Accounts",
                "Key": {"id": S("a2")},
                "ConditionExpression": "attribute_exists(id)",
            }
        },
    ],
    # 1 the first item fails with ALL_OLD: the reason carries the account as it is
    [_debit("a2", 10_000, **_all_old()), _put_record("a2", "r1")],
    # 2 a failure in the middle after two items were applied, and one after it: all undone
    [
        _debit("a1", 1),
        _put_record("a3", "r1"),
        {
            "ConditionCheck": {
                "TableName": "Accounts",
                "Key": {"id": S("a2")},
                "ConditionExpression": "balance < :zero",
                "ExpressionAttributeValues": {":zero": N(0)},
                **_all_old(),
            }
        },
        {"Delete": {"TableName": "Records", "Key": {"pk": S("a1"), "sk": S("r-new")}}},
    ],
    # 3 the last item fails (a record that exists), ALL_OLD returns the record; a new partition undone
    [_debit("a1", 5), _put_record("a9", "r1"), _put_record("a1", "r-new", **_all_old())],
    # 4 ALL_OLD on an item that does not exist: no Item in the reason; a check on an absent partition
    [
        {
            "Update": {
                "TableName": "Accounts",
                "Key": {"id": S("ghost")},
                "UpdateExpression": "SET balance = :b",
                "ConditionExpression": "attribute_exists(id)",
                "ExpressionAttributeValues": {":b": N(1)},
                **_all_old(),
            }
        },
        {
            "ConditionCheck": {
                "TableName": "Records",
                "Key": {"pk": S("zz"), "sk": S("0")},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        _debit("a1", 1),
    ],
    # 5 an upsert (Update of a missing item) applied, then a failure: the new item must go again
    [
        {
            "Update": {
                "TableName": "Accounts",
                "Key": {"id": S("new-acct")},
                "UpdateExpression": "SET balance = :b, version = :one",
                "ExpressionAttributeValues": {":b": N(50), ":one": N(1)},
            }
        },
        _debit("a2", 1_000_000),
    ],
    # 6 two operations on one item: a ValidationException after the first was applied
    [_debit("a1", 1), {"Delete": {"TableName": "Records", "Key": {"pk": S("a1"), "sk": S("r-new")}}}, _debit("a1", 2)],
    # 7 an update expression moto refuses (missing attribute) after a put: ValidationException, undone
    [
        _put_record("a4", "r1"),
        {
            "Update": {
                "TableName": "Accounts",
                "Key": {"id": S("a2")},
                "UpdateExpression": "SET balance = missing + :one",
                "ExpressionAttributeValues": {":one": N(1)},
            }
        },
    ],
    # 8 a table that does not exist, between applied items: cancelled with its reason
    [_debit("a1", 3), {"Delete": {"TableName": "NoSuchTable", "Key": {"id": S("x")}}}, _put_record("a5", "r1")],
    # 9 all applied again after all of that (state must have been exactly restored for this to match)
    [_debit("a1", 10), _debit("a2", 10), _put_record("a1", "r-2"), _put_record("a2", "r-2")],
]


def _seed(dynamodb: Any) -> None:
    dynamodb.create_table(**ACCOUNTS)
    dynamodb.create_table(**RECORDS)
    for account, balance in (("a1", 1000), ("a2", 500)):
        dynamodb.put_item(TableName="Accounts", Item={"id": S(account), "balance": N(balance), "version": N(0)})
    for pk, sk in (("a1", "r-old"), ("a2", "r0")):
        dynamodb.put_item(TableName="Records", Item={"pk": S(pk), "sk": S(sk), "cost": N(1)})


def _state(dynamodb: Any) -> dict[str, Any]:
    """Every table as scanned, plus moto's raw partitions (reads may leave empty ones behind)."""
    tables: dict[str, Any] = {}
    for name in ("Accounts", "Records"):
        items = dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]
        tables[name] = sorted(json.dumps(item, sort_keys=True) for item in items)
    raw = Backends(REGION).dynamodb.tables["Records"].items
    tables["Records partitions"] = sorted(str(key.value) for key in raw)
    return tables


def _outcome(dynamodb: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        dynamodb.transact_write_items(TransactItems=items)
    except ClientError as exc:
        error = exc.response["Error"]
        return {
            "code": error.get("Code"),
            "message": error.get("Message"),
            "reasons": exc.response.get("CancellationReasons"),
        }
    return {"code": None}


def _run(install: bool) -> list[dict[str, Any]]:
    with mock_aws():
        if install:
            transactions.install()
        try:
            dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
            _seed(dynamodb)
            return [{"answer": _outcome(dynamodb, step), "state": _state(dynamodb)} for step in SCENARIO]
        finally:
            transactions.uninstall()


def test_every_answer_and_every_state_match_moto() -> None:
    shipped = _run(install=False)
    undo = _run(install=True)
    for index, (expected, got) in enumerate(zip(shipped, undo, strict=True)):
        assert got == expected, f"step {index}"


def test_the_scenario_covers_what_it_claims() -> None:
    """Pins moto's answers, so a scenario that silently stopped failing would be noticed."""
    steps = _run(install=True)
    codes = [step["answer"]["code"] for step in steps]
    assert codes == [
        None,
        "TransactionCanceledException",
        "TransactionCanceledException",
        "TransactionCanceledException",
        "TransactionCanceledException",
        "TransactionCanceledException",
        "ValidationException",
        "ValidationException",
        "TransactionCanceledException",
        None,
    ]
    first = steps[1]["answer"]["reasons"]
    assert first[0]["Code"] == "ConditionalCheckFailed"
    assert first[0]["Item"] == {"id": S("a2"), "balance": N(500), "version": N(0)}
    assert [reason["Code"] for reason in steps[2]["answer"]["reasons"]] == [
        "None",
        "None",
        "ConditionalCheckFailed",
        "None",
    ]
    assert steps[3]["answer"]["reasons"][2]["Item"]["sk"] == S("r-new")
    assert "Item" not in steps[4]["answer"]["reasons"][0]
    assert steps[8]["answer"]["reasons"][1]["Code"] == "ResourceNotFoundException"
    final = steps[-1]["state"]
    balances = {item["id"]["S"]: item["balance"] for item in map(json.loads, final["Accounts"])}
    assert balances == {"a1": N(1000 - 100 - 10), "a2": N(500 - 10)}  # only steps 0 and 9 applied
    assert "zz" not in final["Records partitions"]
    assert "a9" not in final["Records partitions"]


def test_tables_keep_their_identity_and_nothing_is_copied_whole() -> None:
    with mock_aws():
        transactions.install()
        dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
        _seed(dynamodb)
        backend = Backends(REGION).dynamodb
        before, counts = dict(backend.tables), transactions.counts()
        for step in SCENARIO:
            _outcome(dynamodb, step)
        after = transactions.counts()
        assert all(backend.tables[name] is table for name, table in before.items())
        assert after["tables_copied"] == counts["tables_copied"]
        assert after["copied"] == counts["copied"]
        assert after["undo_log"] == counts["undo_log"] + len(SCENARIO)


def test_a_streamed_table_falls_back_to_moto_and_keeps_its_records_exact() -> None:
    def run(install: bool) -> tuple[list[dict[str, Any]], list[str]]:
        with mock_aws():
            if install:
                transactions.install()
            try:
                dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
                dynamodb.create_table(**STREAMED)
                dynamodb.put_item(TableName="Streamed", Item={"id": S("k"), "v": N(1)})
                answer = _outcome(
                    dynamodb,
                    [
                        {"Put": {"TableName": "Streamed", "Item": {"id": S("new")}}},
                        {
                            "ConditionCheck": {
                                "TableName": "Streamed",
                                "Key": {"id": S("k")},
                                "ConditionExpression": "attribute_not_exists(id)",
                            }
                        },
                    ],
                )
                shard = Backends(REGION).dynamodb.tables["Streamed"].stream_shard
                return [answer], [record.to_json()["eventName"] for record in shard.items]
            finally:
                transactions.uninstall()

    assert run(install=True) == run(install=False)
    with mock_aws():
        transactions.install()
        dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
        dynamodb.create_table(**STREAMED)
        copied = transactions.counts()["copied"]
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": "Streamed", "Item": {"id": S("a")}}}])
        assert transactions.counts()["copied"] == copied + 1


# ---- cost: objects deep-copied per transaction, at two table sizes ----


def _counting_deepcopy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch copy.deepcopy to count every object copied by top-level calls (nested calls share the memo)."""
    real: Callable[..., Any] = copy.deepcopy
    copied = [0]

    def deepcopy(value: Any, memo: dict[int, Any] | None = None, *args: Any) -> Any:
        if memo is not None:
            return real(value, memo, *args)
        memo = {}
        try:
            return real(value, memo, *args)
        finally:
            copied[0] += len(memo)

    monkeypatch.setattr(copy, "deepcopy", deepcopy)
    return copied


def _objects_copied_per_transaction(records: int, install: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    with mock_aws():
        dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
        _seed(dynamodb)
        backend = Backends(REGION).dynamodb
        for index in range(records):
            backend.put_item("Records", {"pk": S(f"bulk{index % 97}"), "sk": S(f"{index:06d}"), "cost": N(index)})
        if install:
            transactions.install()
        try:
            with monkeypatch.context() as patch:
                copied = _counting_deepcopy(patch)
                dynamodb.transact_write_items(TransactItems=[_debit("a1", 1), _put_record("a1", "r-cost")])
                cancelled = _outcome(dynamodb, [_debit("a1", 1), _put_record("a1", "r-cost")])
                assert cancelled["code"] == "TransactionCanceledException"
                return copied[0]
        finally:
            transactions.uninstall()


def test_the_undo_log_copies_the_same_whatever_the_table_size(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = _objects_copied_per_transaction(0, install=True, monkeypatch=monkeypatch)
    large = _objects_copied_per_transaction(2000, install=True, monkeypatch=monkeypatch)
    assert empty == large
    assert empty < 100  # two accounts' worth of attributes, not a table


def test_moto_as_shipped_copies_the_whole_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measure above can tell: without the undo log the copies grow with the table."""
    empty = _objects_copied_per_transaction(0, install=False, monkeypatch=monkeypatch)
    large = _objects_copied_per_transaction(2000, install=False, monkeypatch=monkeypatch)
    assert large > empty + 2 * 2000  # each of the two transactions copied 2,000+ records


def test_install_is_idempotent_and_uninstall_restores_moto() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    shipped = DynamoDBBackend.transact_write_items
    transactions.install()
    wrapped = DynamoDBBackend.transact_write_items
    transactions.install()
    assert DynamoDBBackend.transact_write_items is wrapped is not shipped
    assert transactions.installed()
    transactions.uninstall()
    assert DynamoDBBackend.transact_write_items is shipped
    assert not transactions.installed()
