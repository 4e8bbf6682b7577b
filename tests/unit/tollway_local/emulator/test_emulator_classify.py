"""Which requests count as writes for the snapshot."""

from __future__ import annotations

import pytest
from tollway_local.emulator.classify import Effect, classify

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"


def _json_call(target: str) -> dict[str, str]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": target}


@pytest.mark.parametrize(
    ("target", "effect"),
    [
        ("DynamoDB_20120810.GetItem", Effect.READ),
        ("DynamoDB_20120810.Query", Effect.READ),
        ("DynamoDB_20120810.Scan", Effect.READ),
        ("DynamoDB_20120810.BatchGetItem", Effect.READ),
        ("DynamoDB_20120810.TransactGetItems", Effect.READ),
        ("DynamoDB_20120810.DescribeTable", Effect.READ),
        ("DynamoDB_20120810.ListTables", Effect.READ),
        ("DynamoDB_20120810.PutItem", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.UpdateItem", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.DeleteItem", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.BatchWriteItem", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.TransactWriteItems", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.ExecuteStatement", Effect.DYNAMODB_ITEMS),
        ("DynamoDB_20120810.CreateTable", Effect.DYNAMODB),
        ("DynamoDB_20120810.DeleteTable", Effect.DYNAMODB),
        ("DynamoDB_20120810.UpdateTimeToLive", Effect.DYNAMODB),
        ("DynamoDB_20120810.SomeFutureWrite", Effect.DYNAMODB),
        ("DynamoDBStreams_20120810.GetRecords", Effect.READ),
        ("secretsmanager.GetSecretValue", Effect.READ),
        ("secretsmanager.DescribeSecret", Effect.READ),
        ("secretsmanager.CreateSecret", Effect.SECRETSMANAGER),
        ("secretsmanager.PutSecretValue", Effect.SECRETSMANAGER),
        ("secretsmanager.DeleteSecret", Effect.SECRETSMANAGER),
        ("AmazonSQS.SendMessage", Effect.EVERYTHING),
    ],
)
def test_json_protocol_requests_are_classified_by_their_target(target: str, effect: Effect) -> None:
    assert classify(_json_call(target), b"{}") is effect


@pytest.mark.parametrize(
    ("method", "effect"),
    [("GET", Effect.READ), ("HEAD", Effect.READ), ("PUT", Effect.S3), ("DELETE", Effect.S3), ("POST", Effect.S3)],
)
def test_s3_requests_are_reads_only_for_get_and_head(method: str, effect: Effect) -> None:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/bucket/key", "HTTP_AUTHORIZATION": AUTH.format(service="s3")}
    assert classify(environ, b"") is effect


@pytest.mark.parametrize(
    ("body", "effect"),
    [
        (b"Action=ListTopics&Version=2010-03-31", Effect.READ),
        (b"Action=GetTopicAttributes&TopicArn=x", Effect.READ),
        (b"Action=Publish&TopicArn=x&Message=hi", Effect.READ),  # messages are not kept
        (b"Action=CreateTopic&Name=alerts", Effect.SNS),
        (b"Action=TagResource&ResourceArn=x", Effect.SNS),
        (b"Version=2010-03-31", Effect.EVERYTHING),  # no action: assume the worst
    ],
)
def test_query_protocol_requests_are_classified_by_their_action(body: bytes, effect: Effect) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "HTTP_AUTHORIZATION": AUTH.format(service="sns"),
    }
    assert classify(environ, body) is effect


def test_unknown_requests_and_motos_reset_api_count_as_changing_everything() -> None:
    assert classify({"REQUEST_METHOD": "POST", "PATH_INFO": "/"}, b"") is Effect.EVERYTHING
    assert classify({"REQUEST_METHOD": "POST", "PATH_INFO": "/moto-api/reset"}, b"") is Effect.EVERYTHING
    assert classify({"REQUEST_METHOD": "GET", "PATH_INFO": "/moto-api/data.json"}, b"") is Effect.READ
