"""The direct DynamoDB dispatch and the per-host / per-class lookups (`dispatch.py`) against moto's
server app as it ships, in-process over WSGI.

The same raw requests (as an SDK sends them, and some that are not: no signature, an `Origin`, a
GET, another API version, another service, a body that is not JSON, an unknown operation) go through
moto's `DomainDispatcherApplication` on a fresh moto, unpatched and patched. Status, every header in
order (the random request id only by name), and body must be the same, or the same exception must
escape; and the SDK-shaped ones must really have taken the direct path.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from tollway_local.emulator import dispatch
from werkzeug.exceptions import BadRequest, BadRequestKeyError, HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

if TYPE_CHECKING:
    from collections.abc import Iterator

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"
)
TABLE = {
    "TableName": "Accounts",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture(autouse=True)
def _moto_as_shipped() -> Iterator[None]:
    dispatch.uninstall()
    yield
    dispatch.uninstall()


def _dynamodb(operation: str, body: Any, **headers: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "data": body if isinstance(body, bytes) else json.dumps(body).encode(),
        "headers": {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Authorization": SIGNED.format(service="dynamodb"),
            "Host": "127.0.0.1:4566",
            **headers,
        },
    }


def _debit(amount: int) -> dict[str, Any]:
    return {
        "TransactItems": [
            {
                "Update": {
                    "TableName": "Accounts",
                    "Key": {"id": {"S": "a1"}},
                    "UpdateExpression": "SET balance = balance - :a",
                    "ConditionExpression": "balance >= :a",
                    "ExpressionAttributeValues": {":a": {"N": str(amount)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
    }


# (request, takes the direct path)
REQUESTS: list[tuple[dict[str, Any], bool]] = [
    (_dynamodb("CreateTable", TABLE), True),
    (_dynamodb("PutItem", {"TableName": "Accounts", "Item": {"id": {"S": "a1"}, "balance": {"N": "100"}}}), True),
    (_dynamodb("GetItem", {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}}), True),
    (_dynamodb("TransactWriteItems", _debit(30)), True),
    (_dynamodb("TransactWriteItems", _debit(3_000)), True),  # cancelled, with the item
    (_dynamodb("UpdateItem", {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}, "UpdateExpression": "SET"}), True),
    (_dynamodb("GetItem", {"TableName": "Nope", "Key": {"id": {"S": "a1"}}}), True),  # 400 ResourceNotFound
    (_dynamodb("NoSuchOperation", {}), True),
    (_dynamodb("GetItem", b"{not json"), True),
    # unsigned: moto routes it by default to S3 (not DynamoDB), so flask answers
    (_dynamodb("GetItem", {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}}, Authorization=""), False),
    (_dynamodb("GetItem", {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}}, Origin="http://x.test"), False),
    (
        _dynamodb(
            "GetItem",
            {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}},
            **{"Access-Control-Request-Private-Network": "true"},
        ),
        False,
    ),
    ({**_dynamodb("ListTables", {}), "method": "GET"}, False),
    ({**_dynamodb("ListTables", {}), "path": "/other"}, False),
    (_dynamodb("ListTables", {}, **{"X-Amz-Target": "DynamoDB_20111205.ListTables"}), False),
    (_dynamodb("ListStreams", {}, **{"X-Amz-Target": "DynamoDBStreams_20120810.ListStreams"}), False),
    (
        {
            "method": "GET",
            "path": "/",
            "headers": {"Authorization": SIGNED.format(service="s3"), "Host": "127.0.0.1:4566"},
        },
        False,
    ),
    (_dynamodb("GetItem", {"TableName": "Accounts", "Key": {"id": {"S": "a1"}}}), True),
]


def _call(app: DomainDispatcherApplication, request: dict[str, Any]) -> Any:
    environ = EnvironBuilder(**request).get_environ()
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"] = status
        answer["headers"] = [(k, "<id>" if k.lower() == "x-amzn-requestid" else v) for k, v in headers]
        return lambda data: None

    try:
        body = b"".join(app(environ, start_response))
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    headers = answer["headers"]
    if b"CreationDateTime" in body:  # a clock reading: the two runs differ there, and so its CRC and length
        body = re.sub(rb'"CreationDateTime": [0-9.]+', b'"CreationDateTime": 0', body)
        headers = [(k, "<varies>" if k in ("x-amz-crc32", "Content-Length") else v) for k, v in headers]
    return (answer["status"], headers, body)


def _run(install: bool) -> tuple[list[Any], dict[str, int]]:
    with mock_aws():
        if install:
            dispatch.install()
        try:
            before = dispatch.counts()
            app = DomainDispatcherApplication(create_backend_app)
            answers = [_call(app, request) for request, _ in REQUESTS]
            after = dispatch.counts()
            return answers, {name: after[name] - before[name] for name in after}
        finally:
            dispatch.uninstall()


def test_every_answer_matches_moto_through_flask() -> None:
    shipped, _ = _run(install=False)
    patched, counts = _run(install=True)
    for index, (expected, got) in enumerate(zip(shipped, patched, strict=True)):
        assert got == expected, f"request {index}: {REQUESTS[index][0]}"
    assert counts["direct"] == sum(direct for _, direct in REQUESTS)


def test_the_requests_cover_what_they_claim() -> None:
    answers, _ = _run(install=True)
    statuses = [answer[0] for answer in answers]
    assert statuses[:5] == ["200 OK"] * 4 + ["400 BAD REQUEST"]
    assert b"ConditionalCheckFailed" in answers[4][2] and b'"balance": {"N": "70"}' in answers[4][2]
    assert statuses[5] == statuses[6] == "400 BAD REQUEST"
    names = [name for name, _ in answers[3][1]]
    assert names == ["Content-Type", "server", "x-amzn-requestid", "x-amz-crc32", "Content-Length"] + [
        "Access-Control-Allow-Origin"
    ]
    assert answers[7][:2] == ("raised", "OperationNotFoundError")  # moto's own errors still escape
    assert answers[8][:2] == ("raised", "KeyError")
    assert dict(answers[9][1])["Content-Type"] == "application/xml"  # S3 answered the unsigned one
    assert dict(answers[10][1])["Access-Control-Allow-Origin"] == "http://x.test"  # flask-cors echoes it
    assert answers[-1][2] == b'{"Item": {"id": {"S": "a1"}, "balance": {"N": "70"}}}'


@pytest.mark.parametrize(
    "error",
    [BadRequest("no"), NotFound(), RequestEntityTooLarge(), BadRequestKeyError("TableName")],
    ids=["bad-request", "not-found", "too-large", "bad-request-key"],
)
def test_an_http_exception_from_moto_gets_flasks_answer(monkeypatch: pytest.MonkeyPatch, error: HTTPException) -> None:
    """Never seen for DynamoDB's JSON calls, but if moto raised one, flask's handling applies: its
    error page with flask-cors' header, or (a bad-request key error, in moto's debug mode) a raise."""
    from moto.dynamodb.responses import DynamoHandler

    def call_action(self: Any) -> Any:
        raise error

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    request = REQUESTS[2][0]

    def answer(install: bool) -> Any:
        with mock_aws():
            if install:
                dispatch.install()
            try:
                before = dispatch.counts()["direct"]
                got = _call(DomainDispatcherApplication(create_backend_app), request)
                return got, dispatch.counts()["direct"] - before
            finally:
                dispatch.uninstall()

    shipped, _ = answer(install=False)
    patched, direct = answer(install=True)
    assert patched == shipped and direct == 1
    if isinstance(error, BadRequestKeyError):
        assert shipped[:2] == ("raised", "BadRequestKeyError")
    else:
        assert shipped[0].startswith(str(error.code)) and ("Access-Control-Allow-Origin", "*") in shipped[1]


def test_an_app_with_other_hooks_goes_through_flask() -> None:
    with mock_aws():
        dispatch.install()
        app = DomainDispatcherApplication(create_backend_app)
        request, _ = REQUESTS[0]
        flask_app = app.get_application(EnvironBuilder(**request).get_environ())
        flask_app.before_request_funcs.setdefault(None, []).append(lambda: None)
        before = dispatch.counts()
        assert _call(app, request)[0] == "200 OK"
        assert dispatch.counts()["direct"] == before["direct"]


def test_lookups_are_kept_per_host_and_per_class() -> None:
    from moto.core import responses as core_responses
    from moto.dynamodb.responses import DynamoHandler

    app = DomainDispatcherApplication(create_backend_app)
    shipped = (app.get_backend_for_host("dynamodb.us-east-1.amazonaws.com"), app.get_backend_for_host("nowhere"))
    names = core_responses.method_names_from_class(DynamoHandler)  # type: ignore[attr-defined]
    dispatch.install()
    for _ in range(2):
        assert app.get_backend_for_host("dynamodb.us-east-1.amazonaws.com") == shipped[0] == "dynamodb"
        assert app.get_backend_for_host("nowhere") is shipped[1] is None
        got = core_responses.method_names_from_class(DynamoHandler)  # type: ignore[attr-defined]
        assert got == names and got is not names
        got.append("mutated")  # a caller's list is its own
    assert "mutated" not in core_responses.method_names_from_class(DynamoHandler)  # type: ignore[attr-defined]


def test_uninstall_puts_moto_back() -> None:
    call, lookup = DomainDispatcherApplication.__call__, DomainDispatcherApplication.get_backend_for_host
    dispatch.install()
    dispatch.install()
    assert DomainDispatcherApplication.__call__ is not call and dispatch.installed()
    dispatch.uninstall()
    assert DomainDispatcherApplication.__call__ is call
    assert DomainDispatcherApplication.get_backend_for_host is lookup
    assert not dispatch.installed()
