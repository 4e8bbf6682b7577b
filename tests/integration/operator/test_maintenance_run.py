"""The scheduled maintenance run on the real stack: an artificially orphaned hold (a process that died
between reserve and settle) is closed, refunded and recorded; the report reaches the alerts topic
(the emulator's SNS, read back through a subscribed queue) and the CLI prints it; the audit is clean."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import boto3
import pytest
from tollway.ids import request_id

from tests.support.stack import ROOT, LocalStack

pytestmark = pytest.mark.integration


def orphan_a_hold(stack: LocalStack, account_id: str, key_id: str, amount: int) -> str:
    """Reserve exactly as the relay does — balance down and an open hold, in one transaction — for a
    request 20 minutes old whose process then died (nothing ever settles it)."""
    started = int(time.time() * 1000) - 20 * 60_000
    hold_id = request_id(started)
    stack.dynamodb().transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "AccountsTable",
                    "Key": {"account_id": {"S": account_id}},
                    "UpdateExpression": "SET balance = balance - :amt",
                    "ConditionExpression": "balance >= :amt",
                    "ExpressionAttributeValues": {":amt": {"N": str(amount)}},
                }
            },
            {
                "Put": {
                    "TableName": "HoldsTable",
                    "Item": {
                        "hold_id": {"S": hold_id},
                        "account_id": {"S": account_id},
                        "state": {"S": "open"},
                        "kind": {"S": "request"},
                        "amount": {"N": str(amount)},
                        "created_at": {"N": str(started)},
                        "key_hash": {"S": "0" * 64},
                        "key_id": {"S": key_id},
                        "key_limited": {"BOOL": False},
                        "endpoint": {"S": "chat.completions"},
                        "model": {"S": "t-op"},
                    },
                    "ConditionExpression": "attribute_not_exists(hold_id)",
                }
            },
        ]
    )
    return hold_id


def alerts_queue(stack: LocalStack) -> tuple[object, str]:
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=stack.info["emulator"])
    sns = session.client("sns", endpoint_url=stack.info["emulator"])
    url = sqs.create_queue(QueueName=f"alerts-{time.time_ns()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="AlertsTopic")["TopicArn"]  # the template's topic (idempotent)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return sqs, url


def test_maintenance_closes_refunds_and_records_an_orphaned_hold(stack: LocalStack) -> None:
    who = stack.customer(credit_usd="2.00")
    hold_id = orphan_a_hold(stack, who.account_id, who.key_id, 300_000)
    assert stack.balance(who.account_id) == 1_700_000 and stack.open_holds(who.account_id)
    assert stack.audit(who.account_id)["ok"]  # an open hold is accounted for, not a difference
    sqs, queue = alerts_queue(stack)

    run = subprocess.run(
        [sys.executable, "-m", "tollway_cli.main", "admin", "--state-dir", str(stack.state_dir), "maintenance", "run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "orphaned refunded" in run.stdout and hold_id in run.stdout  # the CLI prints the report

    assert stack.balance(who.account_id) == 2_000_000
    assert not stack.open_holds(who.account_id)
    (record,) = [r for r in stack.records(who.account_id) if r["request_id"] == hold_id]
    assert record["status"] == "orphaned" and record["charge"] == 0 and record["hold"] == 300_000
    assert record["error_code"] == "orphaned_hold"
    audit = stack.audit(who.account_id)
    assert audit["ok"] and audit["reports"][0]["entries"] == 1  # the opening credit; the refund moved nothing
    assert stack.audit()["ok"]

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)  # type: ignore[attr-defined]
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert any(hold_id in b["Message"] and b["Subject"] == "tollway maintenance report" for b in bodies), bodies

    again = stack.admin("maintenance.run")
    assert hold_id not in again["sweep"]["refunded_ids"]  # closed once; the next run finds nothing of it
    trail = stack.admin("trail.query", command_name="maintenance.run", limit=5)["entries"]
    assert trail and trail[0]["actor"] == "local"
