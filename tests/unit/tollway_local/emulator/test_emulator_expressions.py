"""The expression caches (`expressions.py`) against moto's own parsers, in-process.

Two kinds of check. The parser level: every (expression, names, values) case is parsed by moto as it
ships and by the patched parser, in one order that reuses cached texts with other values and other
name mappings, and the operator trees (their repr shows every bound name and value), what each tree
says about sample items, the names and values found, and any error (type and message) must be the
same. The API level: a scenario of DynamoDB calls (transactions, conditional puts, updates and
deletes, failing conditions with ALL_OLD, invalid expressions) runs twice on a fresh moto, unpatched
and patched, and every answer and the final table contents must be the same, while the caches were
really used.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import UpdateExpressionValidator
from tollway_local.emulator import expressions, transactions

from tests.unit.tollway_local.emulator.test_emulator_transactions import ACCOUNTS

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _moto_as_shipped() -> Iterator[None]:
    """Every test starts (and ends) with moto's own parsers and empty caches."""
    expressions.uninstall()
    transactions.uninstall()
    yield
    expressions.uninstall()
    transactions.uninstall()


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


# ---- the condition parser, case by case ----

ACTIVE = {"#st": "status"}
RESERVE = "attribute_exists(id) AND #st = :active AND balance >= :amt"
# (expression, names, values); the order matters: texts come back with other values and names.
CONDITIONS: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    (RESERVE, ACTIVE, {":active": S("active"), ":amt": N(5)}),
    (RESERVE, ACTIVE, {":active": S("closed"), ":amt": N(9)}),
    (
        "attribute_exists(id) AND #st = :active AND balance >= :amt",
        {"#st": "plan"},
        {":active": S("gold"), ":amt": N(1)},
    ),
    # the same text, a value missing / a name missing / no names at all: moto's KeyError and TypeError
    (RESERVE, ACTIVE, {":active": S("active")}),
    (RESERVE, {"#other": "x"}, {":active": S("a"), ":amt": N(1)}),
    (RESERVE, None, {":active": S("a"), ":amt": N(1)}),
    (RESERVE, ACTIVE, None),
    # and valid again after the failures
    (RESERVE, ACTIVE, {":active": S("active"), ":amt": N(700)}),
    ("#a.#b = :v", {"#a": "tokens", "#b": "input"}, {":v": N(120)}),
    ("#a.#b = :v", {"#a": "tokens", "#b": "output"}, {":v": N(120)}),
    ("#a.#b = :v", {"#a": "tags", "#b": "input"}, {":v": N(3)}),
    ("attribute_not_exists(hold_id)", None, None),
    ("attribute_not_exists(hold_id)", {}, {}),
    ("balance BETWEEN :lo AND :hi", None, {":lo": N(1), ":hi": N(600)}),
    ("balance BETWEEN :lo AND :hi", None, {":lo": {"NULL": True}, ":hi": N(600)}),  # moto: IncorrectOperandType
    ("balance BETWEEN :lo AND :hi", None, {":lo": N(600), ":hi": N(9000)}),
    ("#st IN (:a, :b) OR NOT contains(tags, :t)", ACTIVE, {":a": S("active"), ":b": S("x"), ":t": S("vip")}),
    ("#st IN (:a, :b) OR NOT contains(tags, :t)", ACTIVE, {":a": S("y"), ":b": S("x"), ":t": S("red")}),
    ("size(note) > :n AND begins_with(#st, :p)", ACTIVE, {":n": N(3), ":p": S("act")}),
    ("size(note) > :n AND begins_with(#st, :p)", ACTIVE, {":n": N(30), ":p": S("act")}),
    ("attribute_type(balance, :t)", None, {":t": S("N")}),
    ("attribute_type(balance, :t)", None, {":t": S("S")}),
    ("(balance < :a)", None, {":a": N(10)}),
    ("((balance < :a))", None, {":a": N(10)}),  # redundant parentheses
    ("balance >=", None, {":a": N(1)}),  # syntax error
    ("balance >= :a AND", None, {":a": N(1)}),
    ("status = :s", None, {":s": S("active")}),  # reserved word
    ("balance >= :a", None, {":a": N(1), ":unused": N(2)}),  # an unused value: the API layer decides
    ("bad$char = :a", None, {":a": N(1)}),
    ("balance >= :a", None, {":a": N(1)}),
    ("", None, None),
]

ITEMS = [
    None,
    {"id": S("a1"), "status": S("active"), "plan": S("gold"), "balance": N(600), "note": S("hello")},
    {
        "id": S("a2"),
        "status": S("closed"),
        "balance": N(5),
        "tokens": {"M": {"input": N(120), "output": N(7)}},
        "tags": {"SS": ["red", "blue"]},
        "note": S("a long note, longer than thirty chars"),
    },
]


def _item(attrs: dict[str, Any] | None) -> Item | None:
    return None if attrs is None else Item(DynamoType(attrs["id"]), None, attrs)


def _parse(text: str, names: Any, values: Any) -> dict[str, Any]:
    parser = ConditionExpressionParser(text, copy.deepcopy(names), copy.deepcopy(values))
    try:
        op = parser.parse()
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    verdicts: list[Any] = []
    for attrs in ITEMS:
        try:
            verdicts.append(op.expr(_item(attrs)))
        except Exception as exc:
            verdicts.append(f"{type(exc).__name__}: {exc}")
    return {
        "op": repr(op),
        "type": type(op).__name__,
        "verdicts": verdicts,
        "names_found": list(parser.expr_attr_names_found),
        "values_found": list(parser.expr_attr_values_found),
    }


def test_the_condition_cache_answers_every_case_as_moto_does() -> None:
    shipped = [_parse(*case) for case in CONDITIONS]
    before = expressions.counts()  # process-wide counters: other tests in this process moved them too
    expressions.install()
    patched = [_parse(*case) for case in CONDITIONS]
    again = [_parse(*case) for case in CONDITIONS]  # everything parsable is cached by now
    for index, case in enumerate(CONDITIONS):
        assert patched[index] == shipped[index], case
        assert again[index] == shipped[index], case
    counts = expressions.counts()
    # moto parsed each valid text once (9), and each text it refuses (5) on each of the two runs
    assert counts["condition_parses"] - before["condition_parses"] == 9 + 2 * 5
    # the cache answered the rest, with each call's own values
    assert counts["condition_hits"] - before["condition_hits"] >= 30


def test_the_scenario_holds_what_it_claims() -> None:
    """Pins moto's answers, so a case that silently stopped testing anything would be noticed."""
    answers = {index: _parse(*case) for index, case in enumerate(CONDITIONS)}
    assert answers[0]["verdicts"] == [False, True, False]
    assert answers[1]["verdicts"] == [False, False, False]  # new values, new answer
    assert answers[2]["verdicts"] == [False, True, False]  # "#st" now means plan
    assert answers[2]["op"] != answers[0]["op"]
    assert answers[3]["error"] == "KeyError"
    assert answers[4]["error"] == "KeyError"
    assert answers[5]["error"] == "TypeError"
    assert answers[6]["error"] == "TypeError"
    assert answers[9]["verdicts"] == [False, False, False] and answers[8]["verdicts"] == [False, False, True]
    assert answers[14]["error"] == "IncorrectOperandType"
    assert answers[23]["error"] == "InvalidConditionExpression"
    assert answers[24]["error"] == "ValueError" and answers[25]["error"] == "ValueError"
    assert answers[26]["error"] == "ConditionAttributeIsReservedKeyword"
    assert answers[0]["names_found"] == ["id", "#st", "balance"]
    assert answers[0]["values_found"] == [":active", ":amt"]


def test_a_stale_binding_would_be_caught() -> None:
    """The same text with new values and a new name mapping: the tree must hold the new ones."""
    expressions.install()
    hits = expressions.counts()["condition_hits"]
    text = "#f >= :v"
    first = ConditionExpressionParser(text, {"#f": "balance"}, {":v": N(1)}).parse()
    second = ConditionExpressionParser(text, {"#f": "version"}, {":v": N(99)}).parse()
    assert repr(first) == "(balance >= '1')"
    assert repr(second) == "(version >= '99')"
    assert expressions.counts()["condition_hits"] == hits + 1


# ---- the update expression cache ----

UPDATES = [
    "SET balance = balance - :amt",
    "ADD balance :delta",
    "SET #st = :s, version = if_not_exists(version, :zero) + :one REMOVE note",
    "SET tags = list_append(if_not_exists(tags, :empty), :more)",
]


def _dump(node: Any, parent: Any = None) -> Any:
    """An AST as plain data, checking each node's parent points at the node it hangs under."""
    children = getattr(node, "children", None)
    if not hasattr(node, "parent"):
        return repr(node)
    assert node.parent is parent
    return [type(node).__name__, [_dump(child, node) for child in children or []]]


def test_update_asts_are_parsed_once_and_never_changed_by_validation() -> None:
    expressions.install()
    item = Item(DynamoType(S("a1")), None, {"id": S("a1"), "balance": N(10), "note": S("n"), "version": N(1)})
    values = {":amt": N(3), ":delta": N(4), ":s": S("x"), ":zero": N(0), ":one": N(1)}
    values |= {":empty": {"L": []}, ":more": {"L": [S("t")]}}
    names = {"#st": "status"}
    table = _table()
    start = expressions.counts()  # process-wide counters: count this test's own calls
    for text in UPDATES:
        ast = UpdateExpressionParser.make(text)
        before = _dump(ast)
        assert UpdateExpressionParser.make(text) is ast
        for _ in range(2):
            validator = UpdateExpressionValidator(
                ast, expression_attribute_names=names, expression_attribute_values=values, item=item, table=table
            )
            copied = validator.node_to_validate
            assert copied is not ast
            assert _dump(copied) == before  # the copy is the same tree, parents inside the copy
            validator.validate()
        assert _dump(ast) == before
    counts = expressions.counts()
    assert counts["update_parses"] - start["update_parses"] == len(UPDATES)
    assert counts["update_hits"] - start["update_hits"] == len(UPDATES)
    assert counts["ast_unpickled"] - start["ast_unpickled"] == 2 * len(UPDATES)


def test_an_update_expression_that_does_not_parse_fails_every_time() -> None:
    def errors() -> list[str]:
        out = []
        for _ in range(2):
            with pytest.raises(Exception, match=".") as caught:
                UpdateExpressionParser.make("SET balance = = :a")
            out.append(f"{type(caught.value).__name__}: {caught.value}")
        return out

    shipped = errors()
    expressions.install()
    assert errors() == shipped
    assert expressions.counts()["updates_cached"] == 0


def test_the_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expressions, "MAX_ENTRIES", 4)
    expressions.install()
    for n in range(10):
        ConditionExpressionParser(f"a{n} = :v", None, {":v": N(n)}).parse()
        UpdateExpressionParser.make(f"SET a{n} = :v")
    counts = expressions.counts()
    assert counts["conditions_cached"] <= 4
    assert counts["updates_cached"] <= 4


def test_uninstall_puts_moto_back() -> None:
    parse, make = ConditionExpressionParser.parse, UpdateExpressionParser.__dict__["make"]
    expressions.install()
    expressions.install()  # once only
    assert ConditionExpressionParser.parse is not parse
    expressions.uninstall()
    assert ConditionExpressionParser.parse is parse
    assert UpdateExpressionParser.__dict__["make"] is make
    assert expressions.counts()["conditions_cached"] == 0


def _table() -> Any:
    from moto.dynamodb.models.table import Table

    return Table(
        "Accounts",
        account_id="123456789012",
        region=REGION,
        schema=[{"AttributeName": "id", "KeyType": "HASH"}],
        attr=[{"AttributeName": "id", "AttributeType": "S"}],
    )


# ---- the API: the same calls through boto3, unpatched and patched ----

HOLDS = {
    "TableName": "Holds",
    "KeySchema": [{"AttributeName": "hold_id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "hold_id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
NO_HOLD = "attribute_not_exists(hold_id)"


def _reserve(account: str, hold: str, amount: int, *, status: str = "active", field: str = "status") -> list[Any]:
    return [
        {
            "Update": {
                "TableName": "Accounts",
                "Key": {"id": S(account)},
                "UpdateExpression": "SET balance = balance - :amt",
                "ConditionExpression": RESERVE,
                "ExpressionAttributeNames": {"#st": field},
                "ExpressionAttributeValues": {":amt": N(amount), ":active": S(status)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            "Put": {
                "TableName": "Holds",
                "Item": {"hold_id": S(hold), "account_id": S(account), "amount": N(amount), "state": S("open")},
                "ConditionExpression": "attribute_not_exists(hold_id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def _settle(account: str, hold: str, refund: int) -> list[Any]:
    return [
        {
            "Delete": {
                "TableName": "Holds",
                "Key": {"hold_id": S(hold)},
                "ConditionExpression": "#st = :open",
                "ExpressionAttributeNames": {"#st": "state"},
                "ExpressionAttributeValues": {":open": S("open")},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            "Update": {
                "TableName": "Accounts",
                "Key": {"id": S(account)},
                "UpdateExpression": "ADD balance :delta",
                "ConditionExpression": "attribute_exists(id)",
                "ExpressionAttributeValues": {":delta": N(refund)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def _steps() -> list[tuple[str, dict[str, Any]]]:
    """(operation, arguments) in order; the comments say what moto answers (checked in both runs)."""
    tx = "transact_write_items"
    return [
        (tx, {"TransactItems": _reserve("a1", "h1", 300)}),  # applied
        (tx, {"TransactItems": _reserve("a1", "h2", 5_000)}),  # cancelled: balance, ALL_OLD item
        (tx, {"TransactItems": _reserve("a1", "h3", 100)}),  # applied (same texts, new values)
        (tx, {"TransactItems": _reserve("a1", "h1", 1)}),  # cancelled: the hold exists (ALL_OLD hold)
        (tx, {"TransactItems": _reserve("a1", "h4", 1, status="gold", field="plan")}),  # "#st" is plan now
        (tx, {"TransactItems": _reserve("a1", "h5", 1, status="gold")}),  # cancelled: status is not gold
        (tx, {"TransactItems": _settle("a1", "h1", 250)}),  # applied
        (tx, {"TransactItems": _settle("a1", "h1", 250)}),  # cancelled: the hold is gone
        (tx, {"TransactItems": _settle("a2", "h3", 1)}),  # cancelled: no account a2 (the hold is a1's)
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :n", {":n": N(10)})),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :n", {":n": N(10**6)})),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :n", {":n": N(1)}, "ALL_OLD")),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :n", {":n": N(10**6)}, "ALL_OLD")),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :n", {":n": N(1), ":x": N(2)})),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= :m", {":n": N(1)})),
        ("update_item", _update("a1", "SET balance = balance + :n", "#nope >= :n", {":n": N(1)}, names={"#x": "y"})),
        ("update_item", _update("a1", "SET balance = balance + :n", "balance >= ", {":n": N(1)})),
        ("update_item", _update("a1", "SET balance = balance + :n", "status = :n", {":n": N(1)})),
        ("update_item", _update("a1", "SET balance = = :n", "balance >= :n", {":n": N(1)})),
        ("update_item", _update("a1", "SET balance = balance + :zz", "balance >= :n", {":n": N(1)})),
        ("update_item", _update("a9", "SET balance = :n", None, {":n": N(7)})),  # an upsert
        (
            "put_item",
            {"TableName": "Holds", "Item": {"hold_id": S("p1"), "n": N(1)}, **_cond("attribute_not_exists(hold_id)")},
        ),
        (
            "put_item",
            {"TableName": "Holds", "Item": {"hold_id": S("p1"), "n": N(2)}, **_cond("attribute_not_exists(hold_id)")},
        ),
        ("delete_item", {"TableName": "Holds", "Key": {"hold_id": S("p1")}, **_cond("n = :n", {":n": N(2)})}),
        ("delete_item", {"TableName": "Holds", "Key": {"hold_id": S("p1")}, **_cond("n = :n", {":n": N(1)})}),
        (tx, {"TransactItems": _reserve("a1", "h6", 10) + [_check("a9", "balance > :b", {":b": N(10**9)})]}),
        (tx, {"TransactItems": _reserve("a1", "h7", 10) + [_check("a9", "balance > ", {":b": N(1)})]}),
        (tx, {"TransactItems": _reserve("a1", "h8", 10)}),  # applied: all of the above left no trace
    ]


def _update(
    key: str,
    update: str,
    condition: str | None,
    values: dict[str, Any],
    rv: str | None = None,
    names: dict[str, str] | None = None,
) -> Any:
    args: dict[str, Any] = {
        "TableName": "Accounts",
        "Key": {"id": S(key)},
        "UpdateExpression": update,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if condition is not None:
        args["ConditionExpression"] = condition
    if rv is not None:
        args["ReturnValuesOnConditionCheckFailure"] = rv
    if names is not None:
        args["ExpressionAttributeNames"] = names
    return args


def _cond(text: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ConditionExpression": text, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    if values:
        out["ExpressionAttributeValues"] = values
    return out


def _check(account: str, text: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": "Accounts",
            "Key": {"id": S(account)},
            "ConditionExpression": text,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _answer(dynamodb: Any, operation: str, args: dict[str, Any]) -> dict[str, Any]:
    try:
        result = getattr(dynamodb, operation)(**copy.deepcopy(args))
    except ClientError as exc:
        error = exc.response["Error"]
        return {
            "code": error.get("Code"),
            "message": error.get("Message"),
            "reasons": exc.response.get("CancellationReasons"),
            "item": exc.response.get("Item"),
        }
    except Exception as exc:  # moto lets some mistakes escape as Python errors (in-process: no HTTP 500)
        return {"code": f"raised {type(exc).__name__}", "message": str(exc)}
    return {"code": None, "attributes": result.get("Attributes")}


def _api_run(install: bool) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    with mock_aws():
        transactions.install()
        if install:
            expressions.install()
        try:
            dynamodb = boto3.Session(region_name=REGION).client("dynamodb")
            dynamodb.create_table(**ACCOUNTS)
            dynamodb.create_table(**HOLDS)
            dynamodb.put_item(
                TableName="Accounts",
                Item={"id": S("a1"), "status": S("active"), "plan": S("gold"), "balance": N(1000)},
            )
            answers = [_answer(dynamodb, operation, args) for operation, args in _steps()]
            state = {
                name: sorted(json.dumps(i, sort_keys=True) for i in dynamodb.scan(TableName=name)["Items"])
                for name in ("Accounts", "Holds")
            }
            return answers, state
        finally:
            expressions.uninstall()
            transactions.uninstall()


def test_every_api_answer_and_the_final_state_match_moto() -> None:
    shipped = _api_run(install=False)
    patched = _api_run(install=True)
    for index, (expected, got) in enumerate(zip(shipped[0], patched[0], strict=True)):
        assert got == expected, f"step {index}: {_steps()[index]}"
    assert patched[1] == shipped[1]


def test_the_api_scenario_covers_what_it_claims() -> None:
    answers, state = _api_run(install=True)
    codes = [answer["code"] for answer in answers]
    cancelled, failed, invalid = (
        "TransactionCanceledException",
        "ConditionalCheckFailedException",
        "ValidationException",
    )
    assert codes[:9] == [None, cancelled, None, cancelled, None, cancelled, None, cancelled, cancelled]
    assert answers[1]["reasons"][0]["Item"]["balance"] == N(700)  # ALL_OLD: the account before
    assert answers[3]["reasons"][1]["Item"]["hold_id"] == S("h1")
    assert codes[9:13] == [None, failed, None, failed]
    assert answers[12]["item"]["balance"] == answers[11]["attributes"]["balance"]  # ALL_OLD item
    # moto's own mistakes are kept too: a missing value or name, or a condition syntax error, escape
    # as Python errors (a 500 over HTTP) in update_item, where DynamoDB answers ValidationException
    raised_key, raised_value = "raised KeyError", "raised ValueError"
    assert codes[13:20] == [invalid, raised_key, raised_key, raised_value, invalid, invalid, invalid]
    assert codes[20:25] == [None, None, failed, failed, None]
    assert codes[25:] == [cancelled, raised_value, None]
    assert answers[25]["reasons"][2]["Item"]["balance"] == N(7)
    assert any("h8" in item for item in state["Holds"])
