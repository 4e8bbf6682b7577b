"""Every ready-made event in events/admin/ runs through the admin Lambda handler — the file as
`sam local invoke AdminFunction -e events/admin/<command>.json` would send it — on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import admin_api.handler as handler
import boto3
import pytest
from tollway.accounts.model import ApiKey, KeyStatus
from tollway.admin.commands import load
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.operator import operator_stores
from tollway.redeem.model import Batch, Code, CodeStatus, code_prefix, generate_code, hash_code
from tollway.services import Services
from tollway_local.gateway import LambdaContext

from tests.support.factories import Stores

EVENTS = Path(__file__).resolve().parents[3] / "events" / "admin"
CONTEXT = LambdaContext("tollway-admin-events")
# Commands in an order where each event finds what it names (the files use fixed example ids).
ORDER = [
    "group.set",
    "account.create",
    "account.get",
    "account.list",
    "account.credit",
    "account.debit",
    "account.set-group",
    "account.disable",
    "account.enable",
    "key.create",
    "key.list",
    "key.get",
    "key.update",
    "key.settings",
    "key.disable",
    "key.enable",
    "key.rotate",
    "key.revoke",
    "channel.add",
    "channel.list",
    "channel.update",
    "channel.disable",
    "channel.enable",
    "channel.test",
    "channel.balance",
    "channel.remove",
    "price.set",
    "price.list",
    "price.export",
    "price.import",
    "price.remove",
    "price.markup-set",
    "price.markup-list",
    "price.markup-remove",
    "group.list",
    "redeem.create",
    "redeem.list",
    "redeem.disable",
    "usage.query",
    "usage.export",
    "stats.query",
    "audit.run",
    "maintenance.sweep",
    "maintenance.run",
    "trail.query",
    "group.remove",
]
MINE = {"account", "key", "channel", "price", "group", "redeem", "usage", "stats", "audit", "maintenance", "trail"}


def seed(svc: Services, command: str) -> None:
    """What an event names but no earlier event can create with a fixed id."""
    if command == "key.get":
        secret = generate_key()
        svc.accounts.create_key(
            ApiKey(
                key_hash=hash_key(secret),
                key_id="key_example",
                account_id="acct_example",
                name="example",
                prefix=display_prefix(secret),
                status=KeyStatus.ACTIVE,
                created_at=0,
            )
        )
    if command == "redeem.list":
        code = generate_code()
        batch = Batch("rb_example", "example", 1_000_000, 1, 0, "test")
        operator_stores(svc).codes.create_batch(
            batch,
            [Code(hash_code(code), "rc_0001", "rb_example", code_prefix(code), 1_000_000, CodeStatus.UNUSED, 0)],
        )


@pytest.fixture
def services(stores: Stores) -> Iterator[Services]:
    svc = Services.build(
        stores.settings,
        ledger=stores.ledger,
        accounts=stores.accounts,
        config=stores.config,
        secrets=stores.secrets,
        usage=stores.usage,
    )
    if stores.name == "dynamodb":  # inside moto: the export bucket the template defines
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=stores.settings.export_bucket)
    handler.configure(svc)
    yield svc
    handler.configure(None)


def event(command: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{command}.json").read_text())
    return data


def test_every_command_has_an_event_and_every_event_is_in_order() -> None:
    files = {p.name.removesuffix(".json") for p in EVENTS.glob("*.json")}
    commands = {c.name for c in load().commands()}
    assert commands <= files, sorted(commands - files)
    assert {f for f in files if f.split(".")[0] in MINE} == set(ORDER)
    for name in files:
        data = event(name)
        assert data["command"] == name and isinstance(data["args"], dict) and data["actor"]


def test_every_event_runs_through_the_handler(services: Services) -> None:
    results: dict[str, dict[str, Any]] = {}
    for command in ORDER:
        seed(services, command)
        envelope = handler.lambda_handler(event(command), CONTEXT)
        assert envelope["ok"], (command, envelope)
        results[command] = envelope["result"]
    assert results["account.get"]["balance"] == 5_000_000
    assert results["key.create"]["key"].startswith("sk-")
    assert results["key.rotate"]["key"].startswith("sk-") and results["key.rotate"]["key_id"] == "key_example"
    assert results["channel.test"]["ok"] is False  # nothing listens on port 9: a result, not a crash
    assert "sk-upstream-example" not in json.dumps(results)
    assert results["redeem.disable"]["disabled"] == 1
    assert results["usage.export"]["rows"] == 0 and results["usage.export"]["download_url"]
    assert results["audit.run"]["ok"] is True
    assert results["price.markup-set"]["multiplier"] == "2" and "gpt-4.1" in results["price.markup-set"]["models"]
    assert [m["pattern"] for m in results["price.markup-list"]] == ["gpt-4*"]
    entries = results["trail.query"]["entries"]
    assert entries and all(e["actor"] == "claimed:arn:aws:iam::123456789012:user/alice" for e in entries)
    # Events of other groups (e.g. Midjourney's) must at least come back as an envelope.
    others = sorted(p.name for p in EVENTS.glob("*.json") if p.name.split(".")[0] not in MINE)
    for name in others:
        envelope = handler.lambda_handler(json.loads((EVENTS / name).read_text()), CONTEXT)
        assert envelope["command"] == name.removesuffix(".json")


SCHEDULED = EVENTS.parent / "scheduled"


def test_the_scheduled_events_are_the_templates_schedule_inputs_and_run() -> None:
    """events/scheduled/*.json are what EventBridge sends the admin function (the Schedule events' Input)."""
    from tollway.memory.backend import MemoryBackend
    from tollway.mj.runtime import runtime_for
    from tollway.settings import Settings
    from tollway_local.emulator.template import load_template

    template = load_template(EVENTS.parents[1] / "template.yaml")
    schedules = template["Resources"]["AdminFunction"]["Properties"]["Events"]
    inputs = sorted(
        json.dumps(json.loads(e["Properties"]["Input"]), sort_keys=True)
        for e in schedules.values()
        if e["Type"] == "Schedule"
    )
    files = sorted(SCHEDULED.glob("*.json"))
    assert sorted(json.dumps(json.loads(p.read_text()), sort_keys=True) for p in files) == inputs
    services = Services.in_memory(Settings(), MemoryBackend())  # with the Midjourney and Suno stores
    handler.configure(services)
    try:
        for path in files:
            envelope = handler.lambda_handler(json.loads(path.read_text()), CONTEXT)
            assert envelope["ok"], (path.name, envelope)
            assert envelope["command"] in ("maintenance.run", "mj.sweep")
    finally:
        handler.configure(None)
        runtime_for(services).close()
