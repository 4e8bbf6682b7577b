"""The emulator as a process: ready line, template resources, keep-alive, and how it refuses to start."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from tollway_local.emulator import EmulatorProcess, EmulatorStartError, load_template, table_definitions

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def _describe(emulator: EmulatorProcess, name: str) -> dict[str, Any]:
    dynamodb = emulator.client("dynamodb")
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    return {
        "TableName": table["TableName"],
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda item: item["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(
            (
                {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
                for index in table.get("GlobalSecondaryIndexes", [])
            ),
            key=lambda index: index["IndexName"],
        ),
        "BillingMode": table["BillingModeSummary"]["BillingMode"],
        "TimeToLive": (ttl.get("AttributeName"), ttl["TimeToLiveStatus"]),
    }


def test_the_emulator_creates_exactly_the_templates_tables(emulator: EmulatorProcess, template: Path) -> None:
    definitions = table_definitions(load_template(template))

    assert sorted(emulator.client("dynamodb").list_tables()["TableNames"]) == sorted(
        definition["TableName"] for definition in definitions
    )
    for definition in definitions:
        ttl = definition.get("TimeToLiveSpecification")
        assert _describe(emulator, definition["TableName"]) == {
            "TableName": definition["TableName"],
            "KeySchema": definition["KeySchema"],
            "AttributeDefinitions": sorted(definition["AttributeDefinitions"], key=lambda item: item["AttributeName"]),
            "GlobalSecondaryIndexes": sorted(
                definition.get("GlobalSecondaryIndexes", []), key=lambda index: index["IndexName"]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLive": (ttl["AttributeName"], "ENABLED") if ttl else (None, "DISABLED"),
        }


def test_the_ready_line_is_the_only_stdout_and_connections_are_kept_alive(tmp_path: Path, template: Path) -> None:
    command = [sys.executable, "-m", "tollway_local.emulator", "--port", "0", "--template", str(template)]
    command += ["--state-dir", str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as child:
        try:
            assert child.stdout is not None
            ready = json.loads(child.stdout.readline())
            endpoint = urlsplit(ready["endpoint"])
            assert ready["ready"] is True
            assert endpoint.hostname == "127.0.0.1"
            connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
            connection.request("GET", "/_emulator/stats")
            first = connection.getresponse()
            first.read()
            socket_before = connection.sock
            connection.request("GET", "/_emulator/stats")
            second = connection.getresponse()
            stats = json.loads(second.read())
            assert first.getheader("Connection") is None
            assert connection.sock is socket_before  # the same TCP connection served both
            assert stats["untrack"] is True
            connection.close()
        finally:
            child.terminate()
            assert child.wait(timeout=30) == 0
        assert child.stdout.read() == b""  # nothing after the ready line


def test_boto3_calls_reuse_their_connection(emulator: EmulatorProcess) -> None:
    from tests.integration.emulator.emulator_state import BIG_BODY

    s3 = emulator.client("s3")
    dynamodb = emulator.client("dynamodb")
    s3.put_object(Bucket="exportbucket", Key="big", Body=BIG_BODY)  # Expect: 100-continue
    dynamodb.list_tables()
    before = emulator.stats()["connections_opened"]  # each stats call opens a connection of its own

    for index in range(20):
        dynamodb.put_item(TableName="HoldsTable", Item={"hold_id": {"S": f"h{index}"}})
        assert s3.head_object(Bucket="exportbucket", Key="big")["ContentLength"] == len(BIG_BODY)
        assert s3.get_object(Bucket="exportbucket", Key="big")["Body"].read() == BIG_BODY
        s3.put_object(Bucket="exportbucket", Key="big", Body=BIG_BODY)

    assert emulator.stats()["connections_opened"] - before == 1  # the second stats call's: boto3 opened none


def test_a_bad_template_fails_the_start_with_the_childs_explanation(tmp_path: Path) -> None:
    with pytest.raises(EmulatorStartError, match="cannot read template"):
        EmulatorProcess(tmp_path, tmp_path / "missing.yaml", start_timeout=60).start()


def test_a_corrupt_snapshot_stops_the_start_and_is_left_as_it_was(tmp_path: Path, template: Path) -> None:
    snapshot = tmp_path / "emulator" / "snapshot.jsonl"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text('{"format": "tollway-emulator-snapshot", "version": 1}\n{"table": {"defin', encoding="utf-8")

    with pytest.raises(EmulatorStartError) as failure:
        EmulatorProcess(tmp_path, template).start()

    message = str(failure.value)
    assert "exited with status 3" in message
    assert "is truncated" in message
    assert "--on-corrupt=move-aside" in message
    assert snapshot.read_text(encoding="utf-8").endswith('"defin')


def test_move_aside_keeps_the_corrupt_snapshot_and_starts_empty(tmp_path: Path, template: Path) -> None:
    snapshot = tmp_path / "emulator" / "snapshot.jsonl"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text("garbage\n", encoding="utf-8")

    with EmulatorProcess(tmp_path, template, extra_args=("--on-corrupt", "move-aside")) as emulator:
        assert emulator.client("dynamodb").scan(TableName="AccountsTable")["Items"] == []
        log = emulator.stderr_tail()

    moved = [path for path in snapshot.parent.iterdir() if path.name.startswith("snapshot.jsonl.corrupt-")]
    assert [path.read_text(encoding="utf-8") for path in moved] == ["garbage\n"]
    assert "moved it to" in log


def test_a_second_emulator_on_the_same_state_dir_is_refused(emulator: EmulatorProcess, tmp_path: Path) -> None:
    with pytest.raises(EmulatorStartError, match="another emulator is using"):
        EmulatorProcess(tmp_path, None).start()


def test_the_emulator_stops_cleanly_when_its_parent_goes_away(tmp_path: Path, template: Path) -> None:
    emulator = EmulatorProcess(tmp_path, template).start()
    emulator.client("dynamodb").put_item(TableName="HoldsTable", Item={"hold_id": {"S": "h-1"}})
    process = emulator._proc
    assert process is not None
    assert process.stdin is not None

    process.stdin.close()  # what the parent's death looks like from the child

    assert process.wait(timeout=30) == 0
    emulator.stop()
    with EmulatorProcess(tmp_path, template) as again:
        assert again.client("dynamodb").scan(TableName="HoldsTable")["Items"] == [{"hold_id": {"S": "h-1"}}]
