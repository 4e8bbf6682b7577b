"""Snapshot and restore against in-process moto (no server): format, fidelity, incremental == full."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from tollway_local.emulator import tracking, transactions
from tollway_local.emulator.backends import Backends
from tollway_local.emulator.classify import Effect
from tollway_local.emulator.itemcodec import decode_item, encode_attrs
from tollway_local.emulator.restore import SnapshotError, read_snapshot, restore_snapshot
from tollway_local.emulator.snapshot import Snapshotter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "us-east-1"
PAIR_TABLE = {
    "TableName": "Pairs",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "n", "AttributeType": "N"},
        {"AttributeName": "owner", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_owner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
SINGLE_TABLE = {
    "TableName": "Singles",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
EVERY_TYPE = {
    "pk": {"S": "acct#1"},
    "n": {"N": "7"},
    "owner": {"S": "alice"},
    "text": {"S": "héllo ✓"},
    "num": {"N": "-12.500"},
    "bin": {"B": b"\x00\xffbinary"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "binaries": {"BS": [b"\x01", b"\x02"]},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"B": b"\x03"}}}]},
    "map": {"M": {"inner": {"L": [{"BOOL": False}]}, "empty": {"M": {}}}},
}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield {name: session.client(name) for name in ("dynamodb", "s3", "secretsmanager", "sns")}


@pytest.fixture
def log() -> Iterator[tracking.ChangeLog]:
    tracking.install()
    change_log = tracking.ChangeLog()
    tracking.activate(change_log)
    yield change_log
    tracking.activate(None)


def _snapshotter(directory: Path, change_log: tracking.ChangeLog | None = None) -> Snapshotter:
    snapshotter = Snapshotter(directory, Backends(region=REGION))
    if change_log is not None:
        snapshotter.changes = change_log
    return snapshotter


def _populate(aws: dict[str, Any]) -> None:
    dynamodb = aws["dynamodb"]
    dynamodb.create_table(**PAIR_TABLE)
    dynamodb.create_table(**SINGLE_TABLE)
    dynamodb.update_time_to_live(TableName="Singles", TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True})
    dynamodb.put_item(TableName="Pairs", Item=EVERY_TYPE)
    for index in range(20):
        dynamodb.put_item(TableName="Singles", Item={"id": {"S": f"s{index}"}, "v": {"N": str(index)}})
    secrets = aws["secretsmanager"]
    secrets.create_secret(
        Name="channel/openai", SecretString="sk-one", Description="d", Tags=[{"Key": "k", "Value": "v"}]
    )
    secrets.put_secret_value(SecretId="channel/openai", SecretString="sk-two")
    secrets.create_secret(Name="binary", SecretBinary=b"\x00\x01\x02")
    s3 = aws["s3"]
    s3.create_bucket(Bucket="exports")
    s3.put_object(
        Bucket="exports", Key="a/report.csv", Body=b"a,b\n1,2\n", ContentType="text/csv", Metadata={"who": "x"}
    )
    s3.put_object(Bucket="exports", Key="a/copy.csv", Body=b"a,b\n1,2\n", ContentType="text/csv")
    s3.put_object(Bucket="exports", Key="empty", Body=b"")
    aws["sns"].create_topic(Name="Alerts", Attributes={"DisplayName": "alerts"}, Tags=[{"Key": "team", "Value": "ops"}])


def _state(aws: dict[str, Any]) -> dict[str, Any]:
    """Everything a client can observe, in comparable form."""
    dynamodb = aws["dynamodb"]
    tables = {}
    for name in sorted(dynamodb.list_tables()["TableNames"]):
        items = dynamodb.scan(TableName=name)["Items"]
        tables[name] = sorted(json.dumps(item, sort_keys=True, default=repr) for item in items)
    secrets = {}
    for entry in aws["secretsmanager"].list_secrets()["SecretList"]:
        value = aws["secretsmanager"].get_secret_value(SecretId=entry["Name"])
        secrets[entry["Name"]] = (
            entry["ARN"],
            entry.get("Description"),
            entry.get("Tags"),
            value.get("SecretString"),
            value.get("SecretBinary"),
            value["VersionId"],
        )
    objects = {}
    for bucket in aws["s3"].list_buckets()["Buckets"]:
        for entry in aws["s3"].list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            got = aws["s3"].get_object(Bucket=bucket["Name"], Key=entry["Key"])
            objects[(bucket["Name"], entry["Key"])] = (
                got["Body"].read(),
                got["ContentType"],
                got["Metadata"],
                got["ETag"],
                got["LastModified"],
            )
    topics = {}
    for topic in aws["sns"].list_topics()["Topics"]:
        attributes = aws["sns"].get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]
        tags = aws["sns"].list_tags_for_resource(ResourceArn=topic["TopicArn"])["Tags"]
        topics[topic["TopicArn"]] = (attributes.get("DisplayName"), tags)
    return {"tables": tables, "secrets": secrets, "objects": objects, "topics": topics}


def test_a_snapshot_restores_every_service_exactly(tmp_path: Path) -> None:
    directory = tmp_path / "emulator"
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        aws = {name: session.client(name) for name in ("dynamodb", "s3", "secretsmanager", "sns")}
        _populate(aws)
        before = _state(aws)
        snapshotter = _snapshotter(directory)
        stats = snapshotter.write(snapshotter.capture(full=True))
    assert stats.items == 21
    assert stats.objects == 3
    assert len(list((directory / "blobs").iterdir())) == 2  # identical bodies share one blob
    assert [path.name for path in directory.iterdir() if path.name.startswith(".")] == []  # no temp file left

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        aws = {name: session.client(name) for name in ("dynamodb", "s3", "secretsmanager", "sns")}
        aws["dynamodb"].create_table(**PAIR_TABLE)  # as the template would; Singles comes from the snapshot
        snapshot = read_snapshot(directory / "snapshot.jsonl")
        assert snapshot is not None
        restored = restore_snapshot(snapshot, Backends(region=REGION))
        after = _state(aws)
        ttl = aws["dynamodb"].describe_time_to_live(TableName="Singles")["TimeToLiveDescription"]
        queried = aws["dynamodb"].query(
            TableName="Pairs",
            IndexName="by_owner",
            KeyConditionExpression="#o = :o",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":o": {"S": "alice"}},
        )["Items"]
        versions = aws["secretsmanager"].list_secret_version_ids(SecretId="channel/openai")["Versions"]

    assert restored.items == 21
    assert after == before
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert [item["num"] for item in queried] == [{"N": "-12.500"}]
    assert sorted(stage for version in versions for stage in version["VersionStages"]) == ["AWSCURRENT", "AWSPREVIOUS"]


def test_items_round_trip_through_the_codec_with_every_attribute_type(aws: dict[str, Any]) -> None:
    aws["dynamodb"].create_table(**PAIR_TABLE)
    aws["dynamodb"].put_item(TableName="Pairs", Item=EVERY_TYPE)
    stored = Backends(region=REGION).dynamodb.tables["Pairs"]
    (item,) = [item for by_range in stored.items.values() for item in by_range.values()]

    encoded = encode_attrs(item.attrs)
    decoded = decode_item(json.loads(json.dumps(encoded)), "pk", "n")

    assert decoded == item  # moto's own Item equality: keys and every attribute
    assert encode_attrs(decoded.attrs) == encoded


def _random_writes(dynamodb: Any, rng: random.Random, rounds: int) -> None:
    """Every kind of item write, including failing conditions and cancelled transactions."""
    for _ in range(rounds):
        pk, n = f"p{rng.randrange(4)}", str(rng.randrange(6))
        key = {"pk": {"S": pk}, "n": {"N": n}}
        choice = rng.randrange(8)
        try:
            if choice == 0:
                dynamodb.put_item(TableName="Pairs", Item={**key, "v": {"N": str(rng.randrange(100))}})
            elif choice == 1:
                dynamodb.update_item(
                    TableName="Pairs",
                    Key=key,
                    UpdateExpression="ADD v :one SET tags = list_append(if_not_exists(tags, :empty), :tag)",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":empty": {"L": []}, ":tag": {"L": [{"S": "t"}]}},
                )
            elif choice == 2:
                dynamodb.delete_item(TableName="Pairs", Key=key)
            elif choice == 3:
                dynamodb.update_item(
                    TableName="Pairs",
                    Key=key,
                    UpdateExpression="ADD v :minus",
                    ConditionExpression="v >= :amount",
                    ExpressionAttributeValues={":minus": {"N": "-50"}, ":amount": {"N": "50"}},
                )
            elif choice == 4:
                dynamodb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "Singles", "Item": {"id": {"S": f"t{rng.randrange(50)}"}}}},
                        {
                            "Update": {
                                "TableName": "Pairs",
                                "Key": key,
                                "UpdateExpression": "ADD v :one",
                                "ConditionExpression": "attribute_exists(pk)",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                    ]
                )
            elif choice == 5:
                dynamodb.batch_write_item(
                    RequestItems={
                        "Singles": [
                            {"PutRequest": {"Item": {"id": {"S": f"b{rng.randrange(30)}"}, "x": {"N": "1.50"}}}},
                            {"DeleteRequest": {"Key": {"id": {"S": f"b{rng.randrange(30)}"}}}},
                        ]
                    }
                )
            elif choice == 6:
                dynamodb.execute_statement(
                    Statement="UPDATE Pairs SET v = ? WHERE pk = ? AND n = ?",
                    Parameters=[{"N": "3"}, {"S": pk}, {"N": n}],
                )
            else:
                dynamodb.put_item(
                    TableName="Pairs", Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)"
                )
        except ClientError:
            pass  # conditional failures and cancelled transactions are part of the mix


def _items(path: Path) -> dict[str, list[str]]:
    snapshot = read_snapshot(path)
    assert snapshot is not None
    return {
        definition["TableName"]: sorted(json.dumps(item, sort_keys=True) for item in items)
        for definition, items in snapshot.iter_items()
    }


@pytest.fixture(params=["moto-copies", "undo-log"])
def transaction_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Cancelled transactions restored by moto's table copies, and by the emulator's undo log."""
    if request.param == "undo-log":
        transactions.install()
    yield str(request.param)
    transactions.uninstall()


def test_incremental_snapshots_equal_full_ones_after_random_writes(
    aws: dict[str, Any], log: tracking.ChangeLog, tmp_path: Path, transaction_mode: str
) -> None:
    aws["dynamodb"].create_table(**PAIR_TABLE)
    aws["dynamodb"].create_table(**SINGLE_TABLE)
    incremental = _snapshotter(tmp_path / "incremental", log)
    incremental.write(incremental.capture(full=True))
    rng = random.Random(20261128)
    for _ in range(25):
        _random_writes(aws["dynamodb"], rng, rounds=12)
        capture = incremental.capture()
        assert not capture.full
        assert set(capture.tables_full) == set()  # only changed keys were read
        incremental.write(capture)
        full = _snapshotter(tmp_path / "full")
        full.write(full.capture(full=True))
        assert _items(incremental.path) == _items(full.path)


def test_table_level_changes_force_a_rescan_of_that_state(
    aws: dict[str, Any], log: tracking.ChangeLog, tmp_path: Path
) -> None:
    aws["dynamodb"].create_table(**SINGLE_TABLE)
    snapshotter = _snapshotter(tmp_path, log)
    snapshotter.write(snapshotter.capture(full=True))
    aws["dynamodb"].delete_table(TableName="Singles")
    aws["dynamodb"].create_table(**PAIR_TABLE)
    snapshotter.note(Effect.DYNAMODB)  # what the server records for DeleteTable/CreateTable

    snapshotter.write(snapshotter.capture())

    assert list(_items(snapshotter.path)) == ["Pairs"]


def test_a_failed_write_is_followed_by_a_full_capture(
    aws: dict[str, Any], log: tracking.ChangeLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws["dynamodb"].create_table(**SINGLE_TABLE)
    snapshotter = _snapshotter(tmp_path, log)
    snapshotter.write(snapshotter.capture(full=True))
    aws["dynamodb"].put_item(TableName="Singles", Item={"id": {"S": "lost?"}})
    capture = snapshotter.capture()

    def disk_full() -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshotter, "_write_document", disk_full)
    with pytest.raises(OSError, match="No space"):
        snapshotter.write(capture)
    monkeypatch.undo()

    assert snapshotter.dirty
    retry = snapshotter.capture()
    assert retry.full
    snapshotter.write(retry)
    assert _items(snapshotter.path)["Singles"] == [json.dumps({"id": {"S": "lost?"}})]


def test_s3_bodies_are_read_once_and_replaced_blobs_are_deleted(aws: dict[str, Any], tmp_path: Path) -> None:
    aws["s3"].create_bucket(Bucket="blobs-test")
    aws["s3"].put_object(Bucket="blobs-test", Key="k", Body=b"first")
    snapshotter = _snapshotter(tmp_path)
    snapshotter.write(snapshotter.capture(full=True))
    snapshotter.note(Effect.S3)
    unchanged = snapshotter.capture()
    assert unchanged.objects is not None
    assert [captured.body for captured in unchanged.objects] == [None]  # digest known: body not re-read
    snapshotter.write(unchanged)

    aws["s3"].put_object(Bucket="blobs-test", Key="k", Body=b"second")
    snapshotter.note(Effect.S3)
    snapshotter.write(snapshotter.capture())

    blobs = sorted(path.read_bytes() for path in (tmp_path / "blobs").iterdir())
    assert blobs == [b"second"]


def _document(tmp_path: Path, aws: dict[str, Any]) -> Path:
    aws["dynamodb"].create_table(**SINGLE_TABLE)
    aws["dynamodb"].put_item(TableName="Singles", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    snapshotter = _snapshotter(tmp_path)
    snapshotter.write(snapshotter.capture(full=True))
    return snapshotter.path


def _read_and_restore(path: Path) -> None:
    snapshot = read_snapshot(path)
    assert snapshot is not None
    restore_snapshot(snapshot, Backends(region=REGION))


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        pytest.param(lambda text: text[: len(text) // 2], "truncated", id="cut-mid-line"),
        pytest.param(lambda text: "".join(_lines(text)[:-1]), "truncated", id="no-end-line"),
        pytest.param(lambda text: "".join(_lines(text)[:2]), "truncated", id="items-missing"),
        pytest.param(lambda text: "", "truncated", id="empty"),
        pytest.param(lambda text: text.replace('{"s3":', '{"s3":{'), "not valid JSON", id="garbled-section"),
        pytest.param(
            lambda text: text.replace("tollway-emulator-snapshot", "something-else"),
            "is not a tollway-emulator-snapshot",
            id="other-format",
        ),
        pytest.param(lambda text: text.replace('"version":1', '"version":99'), "format version 99", id="version"),
        pytest.param(
            lambda text: text.replace('"us-east-1"', '"eu-west-1"'), "taken with region 'eu-west-1'", id="region"
        ),
        pytest.param(lambda text: text.replace('"items":1}}', '"items":0}}'), "unexpected line", id="count"),
        pytest.param(lambda text: text + "{}\n", "data after the closing line", id="trailing-data"),
        pytest.param(
            lambda text: text.replace('"end":{"tables":1,"items":1}', '"end":{"tables":1,"items":5}'),
            "closing line does not match",
            id="end-count",
        ),
    ],
)
def test_unreadable_snapshots_raise_and_leave_moto_untouched(
    aws: dict[str, Any], tmp_path: Path, corrupt: Any, message: str
) -> None:
    path = _document(tmp_path, aws)
    path.write_text(corrupt(path.read_text(encoding="utf-8")), encoding="utf-8")
    aws["dynamodb"].delete_item(TableName="Singles", Key={"id": {"S": "a"}})

    with pytest.raises(SnapshotError, match=message):
        _read_and_restore(path)

    assert aws["dynamodb"].scan(TableName="Singles")["Items"] == []


def test_a_corrupt_item_line_fails_the_restore(aws: dict[str, Any], tmp_path: Path) -> None:
    path = _document(tmp_path, aws)
    path.write_text(path.read_text(encoding="utf-8").replace('{"id":{"S":"a"}', '{"id":{"S":"a"'), encoding="utf-8")

    with pytest.raises(SnapshotError, match="not valid JSON"):
        _read_and_restore(path)


def test_a_snapshot_whose_key_schema_no_longer_matches_the_template_is_refused(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    path = _document(tmp_path, aws)
    aws["dynamodb"].delete_table(TableName="Singles")
    aws["dynamodb"].create_table(
        TableName="Singles",
        KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    snapshot = read_snapshot(path)
    assert snapshot is not None

    with pytest.raises(SnapshotError, match="key schema"):
        restore_snapshot(snapshot, Backends(region=REGION))


def test_a_missing_blob_is_reported_before_anything_is_restored(aws: dict[str, Any], tmp_path: Path) -> None:
    aws["s3"].create_bucket(Bucket="blobs-test")
    aws["s3"].put_object(Bucket="blobs-test", Key="k", Body=b"body")
    snapshotter = _snapshotter(tmp_path)
    snapshotter.write(snapshotter.capture(full=True))
    for blob in (tmp_path / "blobs").iterdir():
        blob.unlink()
    snapshot = read_snapshot(snapshotter.path)
    assert snapshot is not None

    with pytest.raises(SnapshotError, match="blob .* missing"):
        restore_snapshot(snapshot, Backends(region=REGION))


def test_no_snapshot_file_means_nothing_to_restore(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path / "snapshot.jsonl") is None


def test_numbers_keep_their_exact_text(aws: dict[str, Any], tmp_path: Path) -> None:
    aws["dynamodb"].create_table(**SINGLE_TABLE)
    value = str(Decimal("0.000001"))
    aws["dynamodb"].put_item(TableName="Singles", Item={"id": {"S": "m"}, "micro": {"N": value}, "big": {"N": "1e38"}})
    snapshotter = _snapshotter(tmp_path)
    snapshotter.write(snapshotter.capture(full=True))

    snapshot = read_snapshot(snapshotter.path)
    assert snapshot is not None
    (item,) = snapshot.items("Singles")
    assert item["micro"] == {"N": value}
    assert item["big"] == {"N": "1e38"}
