"""bench.cannedstore answers like DynamoDB: the wire client (blocking and bridged) and boto3 accept it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import uvloop
from botocore.credentials import Credentials
from tollway.bridge import run_bridged
from tollway.dynamo_wire import WireClient

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = subprocess.Popen([sys.executable, "-m", "bench.cannedstore"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None
    yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    server.terminate()
    server.wait(timeout=10)
    server.stdout.close()


def test_every_client_takes_its_answer(endpoint: str) -> None:
    boto = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1").client(
        "dynamodb", endpoint_url=endpoint
    )
    wire = WireClient(boto, Credentials("a", "b"))
    items = [{"Put": {"TableName": "T", "Item": {"k": {"S": "x"}}}}]
    assert boto.transact_write_items(TransactItems=items)["ResponseMetadata"]["HTTPStatusCode"] == 200
    blocking = wire.transact_write_items(TransactItems=items)

    async def bridged() -> dict[str, object]:
        try:
            return await run_bridged(lambda: wire.transact_write_items(TransactItems=items))
        finally:
            await wire.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        on_loop = runner.run(bridged())
    assert blocking == on_loop
    assert blocking["ResponseMetadata"]["RequestId"].startswith("CANNED")  # type: ignore[index]
    wire.close()
