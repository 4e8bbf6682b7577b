"""The relay's hot-path store movements: bridged on the event loop with the wire client, a worker thread
otherwise (boto3 or the in-memory stores)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import anyio
import boto3
import pytest
import uvloop
from botocore.credentials import Credentials
from relay.pipeline import Pipeline
from tollway.bridge import on_loop, pause
from tollway.dynamo_wire import WireClient
from tollway.services import LazyServices
from tollway.settings import Settings


def _where() -> tuple[bool, int]:
    return on_loop(), threading.get_ident()


def _boto() -> Any:
    # Never called: the movements here make no store call (the endpoint is never reached).
    return boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1").client(
        "dynamodb", endpoint_url="http://127.0.0.1:9"
    )


@pytest.mark.parametrize("client", ["wire", "boto3", "memory"])
def test_store_movements_run_bridged_only_with_the_wire_client(client: str) -> None:
    boto = _boto()
    if client == "wire":
        ledger: Any = SimpleNamespace(client=WireClient(boto, Credentials("a", "b")))
    elif client == "boto3":
        ledger = SimpleNamespace(client=boto)
    else:
        ledger = SimpleNamespace()  # the in-memory ledger has no client
    svc: Any = SimpleNamespace(ledger=ledger)
    pipeline = Pipeline(LazyServices(lambda: svc), None, Settings())  # type: ignore[arg-type]

    async def main() -> tuple[tuple[bool, int], int]:
        return await pipeline.store(svc, _where), threading.get_ident()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        (bridged, thread), loop_thread = runner.run(main())
    assert bridged is (client == "wire")
    assert (thread == loop_thread) is (client == "wire")  # else a worker thread, as before
    boto.close()


def test_a_cancelled_request_does_not_interrupt_its_store_movement() -> None:
    """As with the worker thread: the movement runs to its end, then the cancellation takes effect."""
    boto = _boto()
    svc: Any = SimpleNamespace(ledger=SimpleNamespace(client=WireClient(boto, Credentials("a", "b"))))
    pipeline = Pipeline(LazyServices(lambda: svc), None, Settings())  # type: ignore[arg-type]
    steps: list[str] = []

    def movement(started: anyio.Event) -> None:
        started.set()
        pause(0.05)  # a store call in flight: the loop serves the cancellation meanwhile
        steps.append("written")

    async def main() -> None:
        started = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(pipeline.store, svc, movement, started)
            await started.wait()
            group.cancel_scope.cancel()
        steps.append("cancelled after")

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert steps == ["written", "cancelled after"]
    boto.close()
