"""Helpers for the emulator's integration tests: fill every service, and read back all a client can see."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway_local.emulator import EmulatorProcess

BIG_BODY = bytes(range(256)) * 8192  # 2 MiB: boto3 sends `Expect: 100-continue` for this


def populate(emulator: EmulatorProcess, tag: str = "") -> None:
    """Items in several tables (every attribute type), secrets, S3 objects and a topic."""
    dynamodb = emulator.client("dynamodb")
    dynamodb.put_item(
        TableName="AccountsTable",
        Item={
            "account_id": {"S": f"acct-1{tag}"},
            "balance": {"N": "1000000"},
            "limits": {"M": {"rpm": {"N": "60"}, "models": {"SS": ["gpt-4o-mini", "mock-model"]}}},
            "history": {"L": [{"S": "created"}, {"N": "1.5"}, {"BOOL": True}, {"NULL": True}]},
            "raw": {"B": b"\x00\xff"},
            "raws": {"BS": [b"\x01", b"\x02"]},
            "scores": {"NS": ["1", "2.25"]},
        },
    )
    for index in range(30):
        dynamodb.put_item(
            TableName="UsageTable",
            Item={
                "account_id": {"S": f"acct-1{tag}"},
                "request_id": {"S": f"req-{index:04d}"},
                "key_id": {"S": "key-1"},
                "day_shard": {"S": f"2026-11-28#{index % 4}"},
                "cost_micros": {"N": str(index * 17)},
                "expires_at": {"N": "1900000000"},
            },
        )
    dynamodb.update_item(
        TableName="AccountsTable",
        Key={"account_id": {"S": f"acct-1{tag}"}},
        UpdateExpression="ADD balance :minus SET version = :one",
        ExpressionAttributeValues={":minus": {"N": "-250"}, ":one": {"N": "1"}},
    )
    secrets = emulator.client("secretsmanager")
    secrets.create_secret(
        Name=f"tollway/channel/openai{tag}",
        SecretString='{"api_key": "sk-upstream"}',
        Description="upstream key",
        Tags=[{"Key": "channel", "Value": "openai"}],
    )
    secrets.create_secret(Name=f"tollway/binary{tag}", SecretBinary=b"\x00\x01\x02")
    s3 = emulator.client("s3")
    s3.put_object(
        Bucket="exportbucket",
        Key=f"exports/{tag}usage.csv",
        Body=b"a,b\n1,2\n",
        ContentType="text/csv",
        Metadata={"account": "acct-1"},
    )
    s3.put_object(Bucket="exportbucket", Key=f"images/{tag}big.png", Body=BIG_BODY, ContentType="image/png")
    emulator.client("sns").create_topic(Name=f"Runtime{tag or 'Topic'}", Tags=[{"Key": "k", "Value": "v"}])


def observable_state(emulator: EmulatorProcess) -> dict[str, Any]:
    """Every table's items, every secret, every object and every topic, in comparable form."""
    dynamodb = emulator.client("dynamodb")
    tables: dict[str, list[str]] = {}
    for name in sorted(dynamodb.list_tables()["TableNames"]):
        items: list[str] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(json.dumps(item, sort_keys=True, default=repr) for item in page["Items"])
        tables[name] = sorted(items)
    secrets_client = emulator.client("secretsmanager")
    secrets = {}
    for entry in secrets_client.list_secrets()["SecretList"]:
        value = secrets_client.get_secret_value(SecretId=entry["Name"])
        secrets[entry["Name"]] = {
            "arn": entry["ARN"],
            "description": entry.get("Description"),
            "tags": entry.get("Tags"),
            "string": value.get("SecretString"),
            "binary": value.get("SecretBinary"),
            "version": value["VersionId"],
        }
    s3 = emulator.client("s3")
    objects = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for entry in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            got = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])
            objects[f"{bucket['Name']}/{entry['Key']}"] = {
                "body": got["Body"].read(),
                "content_type": got["ContentType"],
                "metadata": got["Metadata"],
                "etag": got["ETag"],
            }
    sns = emulator.client("sns")
    topics = {
        topic["TopicArn"]: sns.list_tags_for_resource(ResourceArn=topic["TopicArn"])["Tags"]
        for topic in sns.list_topics()["Topics"]
    }
    return {"tables": tables, "secrets": secrets, "objects": objects, "topics": topics}
