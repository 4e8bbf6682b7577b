"""What the Midjourney and Suno integration worlds share: a local stack of their own (fetches refresh
unfinished tasks from the upstream every time), and per test a group, a customer in it, a mock upstream,
the provider's channel, and the ledger and records to check money against."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer

from tests.support.stack import Customer, LocalStack

W = TypeVar("W", bound="TaskWorld")


@contextlib.contextmanager
def task_stack(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp(f"tollway-{name}-state")
    # Fetches refresh any unfinished task from the upstream (the default waits 10 s between refreshes).
    local = LocalStack(state, env={"TOLLWAY_MJ_REFRESH_AFTER_S": "0", **(env or {})}).start()
    try:
        yield local
    finally:
        local.stop()


@dataclass
class TaskWorld:
    """One test's world: a group of its own, a customer in it, a mock upstream, a channel."""

    stack: LocalStack
    mock: MockServer
    group: str
    channel_id: str
    who: Customer
    http: httpx.Client

    #: How long the writes that follow a response (history, a fetch's refund) take to land.
    settle_s = 0.2

    def customer(self, credit_usd: str = "1.00") -> Customer:
        return self.stack.customer(credit_usd=credit_usd, group=self.group)

    def ledger(self, account_id: str | None = None) -> list[dict[str, Any]]:
        client = self.stack.dynamodb()
        items = client.query(
            TableName="LedgerTable",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": {"S": account_id or self.who.account_id}},
            ConsistentRead=True,
        )["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def refunds(self, account_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.ledger(account_id) if e["kind"] == "refund"]

    def record(self, task_id: str) -> dict[str, Any]:
        """The usage record that carries a task id (exactly one)."""
        (found,) = [r for r in self.stack.records(self.who.account_id) if r.get("task_id") == task_id]
        return found

    def settle_down(self) -> None:
        """Let the writes that follow a response land (they run just after the body is sent)."""
        time.sleep(self.settle_s)

    def backdate(self, task_id: str, hours: float) -> None:
        """Behind the relay's back: the task was submitted ``hours`` ago (the default timeout is one hour)."""
        then = int(time.time() * 1000) - int(hours * 3600 * 1000)
        self.stack.dynamodb().update_item(
            TableName="TasksTable",
            Key={"task_id": {"S": task_id}},
            UpdateExpression="SET created_at = :t",
            ExpressionAttributeValues={":t": {"N": str(then)}},
        )


def make_task_world(
    cls: type[W], stack: LocalStack, mock: MockServer, add_command: str, *, credit_usd: str = "1.00", **channel: Any
) -> W:
    """A group of its own, the provider's channel on ``mock`` for it (``add_command``), a customer in it."""
    prefix = add_command.split(".", 1)[0]
    group = f"{prefix}-{uuid.uuid4().hex[:8]}"
    stack.admin("group.set", name=group)
    created = stack.admin(add_command, name=f"mock {prefix} {group}", base_url=mock.url, groups=[group], **channel)
    who = stack.customer(credit_usd=credit_usd, group=group)
    return cls(stack, mock, group, str(created["channel_id"]), who, httpx.Client(timeout=60))


@contextlib.contextmanager
def task_world(cls: type[W], stack: LocalStack, add_command: str, **channel: Any) -> Iterator[W]:
    """A world for one test on a fresh mock upstream; its channel is removed afterwards."""
    with MockServer(MockConfig.fast()) as mock:
        made = make_task_world(cls, stack, mock, add_command, **channel)
        try:
            yield made
        finally:
            made.http.close()
            stack.admin_envelope("channel.remove", channel_id=made.channel_id)
