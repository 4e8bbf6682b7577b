"""The emulator with its CPU fast paths (`cpupaths.py`) against the same emulator without them
(`--no-fast-paths`), over HTTP: two real `python -m tollway_local.emulator` children from the
project's template, the same raw requests to each, and byte-for-byte the same answers.

The requests are the relay's own shapes (reserve: account debit + hold put; settle: hold delete +
account refund + usage record put, with ReturnValuesOnConditionCheckFailure), repeated with other
values so the cached expressions are reused, plus failing conditions, a name mapped differently,
and invalid expressions (a syntax error, a reserved word, a missing value or name, an unused value).
Status, every header but `Date` and the random `x-amzn-requestid` (their presence and order too),
and the body must be the same.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tollway_local.emulator import EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"
)
VARYING = {"date", "x-amzn-requestid"}


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[dict[str, EmulatorProcess]]:
    with (
        EmulatorProcess(tmp_path_factory.mktemp("fast"), template) as fast,
        EmulatorProcess(tmp_path_factory.mktemp("moto"), template, extra_args=("--no-fast-paths",)) as moto,
    ):
        yield {"fast": fast, "moto": moto}


@pytest.fixture(scope="module")
def template() -> Path:
    return Path(__file__).resolve().parents[3] / "template.yaml"


def _reserve(hold: str, amount: int, *, status: str = "active", field: str = "status") -> dict[str, Any]:
    return {
        "TransactItems": [
            {
                "Update": {
                    "TableName": "AccountsTable",
                    "Key": {"account_id": S("acct_fp")},
                    "UpdateExpression": "SET balance = balance - :amt",
                    "ConditionExpression": "attribute_exists(account_id) AND #st = :active AND balance >= :amt",
                    "ExpressionAttributeNames": {"#st": field},
                    "ExpressionAttributeValues": {":amt": N(amount), ":active": S(status)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": "HoldsTable",
                    "Item": {"hold_id": S(hold), "account_id": S("acct_fp"), "amount": N(amount), "state": S("open")},
                    "ConditionExpression": "attribute_not_exists(hold_id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
    }


def _settle(hold: str, refund: int, charge: int) -> dict[str, Any]:
    return {
        "TransactItems": [
            {
                "Delete": {
                    "TableName": "HoldsTable",
                    "Key": {"hold_id": S(hold)},
                    "ConditionExpression": "#st = :open",
                    "ExpressionAttributeNames": {"#st": "state"},
                    "ExpressionAttributeValues": {":open": S("open")},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": "AccountsTable",
                    "Key": {"account_id": S("acct_fp")},
                    "UpdateExpression": "ADD balance :delta",
                    "ConditionExpression": "attribute_exists(account_id)",
                    "ExpressionAttributeValues": {":delta": N(refund)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": "UsageTable",
                    "Item": {
                        "account_id": S("acct_fp"),
                        "request_id": S(hold),
                        "charge": N(charge),
                        "tokens": {"M": {"input": N(120), "output": N(charge // 4)}},
                        "entry_ids": {"L": [S(f"{hold}#charge")]},
                    },
                    "ConditionExpression": "attribute_not_exists(request_id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
    }


def _update(condition: str, values: dict[str, Any], names: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TableName": "AccountsTable",
        "Key": {"account_id": S("acct_fp")},
        "UpdateExpression": "SET version = version + :one",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": {":one": N(1), **values},
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if names is not None:
        body["ExpressionAttributeNames"] = names
    return body


ACCOUNT = {
    "TableName": "AccountsTable",
    "Item": {"account_id": S("acct_fp"), "status": S("active"), "plan": S("pro"), "balance": N(1000), "version": N(0)},
}
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("PutItem", ACCOUNT),
    ("TransactWriteItems", _reserve("h1", 400)),  # applied
    ("TransactWriteItems", _reserve("h2", 5_000)),  # cancelled: the balance (ALL_OLD account)
    ("TransactWriteItems", _reserve("h1", 1)),  # cancelled: the hold exists (ALL_OLD hold)
    ("TransactWriteItems", _reserve("h3", 10, status="pro", field="plan")),  # "#st" means plan: applied
    ("TransactWriteItems", _reserve("h4", 10, status="pro")),  # "#st" means status again: cancelled
    ("TransactWriteItems", _settle("h1", 300, 100)),  # applied
    ("TransactWriteItems", _settle("h1", 300, 100)),  # cancelled: the hold is gone, the record exists
    ("TransactWriteItems", _settle("h3", 5, 5)),  # applied
    ("UpdateItem", _update("balance >= :min", {":min": N(10)})),  # applied
    ("UpdateItem", _update("balance >= :min", {":min": N(10**9)})),  # ConditionalCheckFailed, with the item
    ("UpdateItem", _update("#b >= :min", {":min": N(10)}, {"#b": "balance"})),
    ("UpdateItem", _update("#b >= :min", {":min": N(10)}, {"#b": "nothing"})),
    ("UpdateItem", _update("balance >=", {":min": N(1)})),  # a syntax error
    ("UpdateItem", _update("status = :s", {":s": S("active")})),  # a reserved word
    ("UpdateItem", _update("balance >= :nope", {})),  # a value missing
    ("UpdateItem", _update("#b >= :min", {":min": N(1)}, {"#x": "balance"})),  # a name missing
    ("UpdateItem", _update("balance >= :min", {":min": N(1), ":unused": N(2)})),  # a value not used
    ("GetItem", {"TableName": "AccountsTable", "Key": {"account_id": S("acct_fp")}, "ConsistentRead": True}),
    ("GetItem", {"TableName": "HoldsTable", "Key": {"hold_id": S("h4")}}),
    (
        "Query",
        {
            "TableName": "UsageTable",
            "KeyConditionExpression": "account_id = :a",
            "ExpressionAttributeValues": {":a": S("acct_fp")},
        },
    ),
]


def _send(emulator: EmulatorProcess, operation: str, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    host, port = emulator.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "POST",
            "/",
            body=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                "Authorization": AUTH,
            },
        )
        response = connection.getresponse()
        payload = response.read()
        headers = [(k, "<varies>" if k.lower() in VARYING else v) for k, v in response.getheaders()]
        return response.status, headers, payload
    finally:
        connection.close()


def test_every_answer_is_the_same_byte_for_byte(pair: dict[str, EmulatorProcess]) -> None:
    answers = {mode: [_send(emulator, op, body) for op, body in STEPS] for mode, emulator in pair.items()}
    for index, (fast, moto) in enumerate(zip(answers["fast"], answers["moto"], strict=True)):
        assert fast == moto, f"step {index}: {STEPS[index][0]}"
    statuses = [status for status, _, _ in answers["fast"]]
    assert statuses[:10] == [200, 200, 400, 400, 200, 400, 200, 400, 200, 200]
    assert statuses[10] == 400 and b"ConditionalCheckFailed" in answers["fast"][10][2]
    # moto's answers, kept as they are: a syntax error or a missing value or name in UpdateItem's
    # condition escapes moto as a Python error (500 here; DynamoDB says 400 ValidationException)
    assert statuses[11:18] == [200, 400, 500, 400, 500, 500, 400]
    balance = json.loads(answers["fast"][18][2])["Item"]["balance"]
    assert balance == N(1000 - 400 - 10 + 300 + 5)
    assert json.loads(answers["fast"][20][2])["Count"] == 2


def test_only_the_fast_emulator_takes_its_fast_paths(pair: dict[str, EmulatorProcess]) -> None:
    _send(pair["fast"], "ListTables", {})
    fast, moto = pair["fast"].stats(), pair["moto"].stats()
    assert moto["fast_paths"] is None
    paths = fast["fast_paths"]
    assert paths["dispatch"]["direct"] > 0
    assert paths["expressions"]["condition_hits"] > 0
    assert paths["expressions"]["update_hits"] > 0
