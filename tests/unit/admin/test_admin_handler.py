"""The admin Lambda handler: direct invoke, the IAM-authorised API Gateway route, and the schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator

import admin_api.handler as handler
import pytest
from tollway.memory.backend import MemoryBackend
from tollway.services import Services
from tollway.settings import Settings
from tollway_local.gateway import LambdaContext

CONTEXT = LambdaContext("tollway-admin-test")


@pytest.fixture(autouse=True)
def services() -> Iterator[Services]:
    svc = Services.in_memory(Settings(), MemoryBackend())
    handler.configure(svc)
    yield svc
    handler.configure(None)


def api_event(command: str, body: str, user_arn: str) -> dict[str, object]:
    return {
        "resource": "/admin/{command}",
        "path": f"/admin/{command}",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"command": command},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/admin/{command}",
            "httpMethod": "POST",
            "path": f"/admin/{command}",
            "stage": "live",
            "requestId": "r1",
            "identity": {"userArn": user_arn, "caller": "AID"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_direct_invoke_runs_the_command_and_records_the_claimed_actor(services: Services) -> None:
    result = handler.lambda_handler(
        {"command": "account.create", "args": {"name": "A", "credit_usd": "2"}, "actor": "arn:aws:iam::1:user/alice"},
        CONTEXT,
    )
    assert result["ok"] and result["result"]["balance"] == 2_000_000
    (entry,) = services.ledger.holds() or [None]  # the credit's marker is closed after its history is written
    assert entry is None


def test_api_gateway_route_dispatches_with_status_codes() -> None:
    ok = handler.lambda_handler(
        api_event("account.create", json.dumps({"name": "B"}), "arn:aws:iam::1:role/ops"), CONTEXT
    )
    assert ok["statusCode"] == 200 and json.loads(ok["body"])["result"]["balance"] == 200_000  # the sign-up credit
    bad = handler.lambda_handler(api_event("account.create", "{not json", "arn"), CONTEXT)
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["code"] == "invalid_args"
    unknown = handler.lambda_handler(api_event("nope.nothing", "{}", "arn"), CONTEXT)
    assert unknown["statusCode"] == 404


def test_api_gateway_route_answers_each_failure_with_the_admin_tables_status() -> None:
    def call(command: str, args: dict[str, object]) -> tuple[int, dict[str, object]]:
        result = handler.lambda_handler(api_event(command, json.dumps(args), "arn"), CONTEXT)
        return result["statusCode"], json.loads(result["body"])

    status, created = call("account.create", {"name": "C", "credit_usd": "1"})
    account_id = created["result"]["account_id"]  # type: ignore[index]
    assert status == 200
    status, envelope = call("account.debit", {"account_id": account_id, "amount_usd": "5", "reason": "x"})
    assert (status, envelope["error"]["code"]) == (409, "insufficient_balance")  # type: ignore[index]
    status, envelope = call("account.credit", {"account_id": "acct_missing", "amount_usd": "5", "reason": "x"})
    assert (status, envelope["error"]["code"]) == (404, "not_found")  # type: ignore[index]
    status, envelope = call("account.create", {"name": "D", "account_id": account_id})
    assert (status, envelope["error"]["code"]) == (409, "conflict")  # type: ignore[index]
    bad = handler.lambda_handler(api_event("account.create", "{not json", "arn"), CONTEXT)
    assert json.loads(bad["body"]) == {
        "ok": False,
        "command": "account.create",
        "error": {"code": "invalid_args", "message": "The body is not valid JSON."},
    }


def test_the_schedule_event_runs_maintenance() -> None:
    result = handler.lambda_handler({"command": "maintenance.sweep", "args": {}, "actor": "schedule"}, CONTEXT)
    assert result["ok"] and result["result"]["refunded"] == 0
