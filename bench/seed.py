"""The benchmark's data: its accounts, keys and channels (through the admin registry, as an operator
would create them), and 10,000 usage records + ledger entries of other accounts, so the tables have
grown before anything is measured.

Lanes: each lane is an account (its group picks its channel) with an unlimited and a limited key.

- `ns`: non-streaming requests; its channel calls the mock at the mock's own pace;
- `st`: streams; its channel adds `x-mock-tokens-per-s` (an operator header) for the stream pace;
- `tap`: streams through the chunk tap (`chunktap.py`) to time each chunk in and out of the relay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tollway.admin.commands import load as load_commands
from tollway.admin.registry import AdminContext
from tollway.ids import request_id
from tollway.ledger.model import EntryKind, LedgerEntry
from tollway.records import RecordStatus, UsageRecord
from tollway.records_dynamo import entry_to_item, record_to_item
from tollway.services import Services
from tollway.settings import Settings

__all__ = ["MODEL", "Lane", "Seeded", "preload_history", "seed_lanes", "services_for"]

MODEL = "gpt-5.4-mini"  # priced in the shipped price file; a reasoning model (hold = 128k output tokens)
CREDIT_USD = "1000000"
KEY_LIMIT_USD = "100000"


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    account_id: str
    group: str
    channel_id: str
    key: str  # unlimited key (the default for every measured cell)
    key_id: str
    limited_key: str  # a key with its own spending limit (counted separately)
    limited_key_id: str


@dataclass(frozen=True, slots=True)
class Seeded:
    lanes: dict[str, Lane]

    def __getitem__(self, name: str) -> Lane:
        return self.lanes[name]


def services_for(endpoint: str) -> Services:
    return Services.on_aws(Settings(aws_endpoint_url=endpoint))


def _admin(services: Services, command: str, args: dict[str, Any]) -> Any:
    envelope = load_commands().dispatch(command, args, AdminContext(services=services, actor="bench"))
    if not envelope.get("ok"):
        raise RuntimeError(f"admin {command} failed: {envelope.get('error')}")
    return envelope["result"]


def seed_lanes(services: Services, *, base_urls: dict[str, str], headers: dict[str, dict[str, str]]) -> Seeded:
    """One account, two keys and one channel per lane (`base_urls`: lane -> the channel's base URL)."""
    lanes: dict[str, Lane] = {}
    for name, base_url in base_urls.items():
        group = "default" if name == "ns" else f"bench_{name}"
        account_id = f"acct_bench_{name}"
        channel_id = f"bench-{name}"
        if group != "default":
            _admin(services, "group.set", {"name": group, "ratio": "1"})
        _admin(
            services,
            "account.create",
            {"name": f"bench {name}", "group": group, "credit_usd": CREDIT_USD, "account_id": account_id},
        )
        key = _admin(services, "key.create", {"account_id": account_id, "name": f"bench {name}"})
        limited = _admin(
            services,
            "key.create",
            {"account_id": account_id, "name": f"bench {name} limited", "limit_usd": KEY_LIMIT_USD},
        )
        _admin(
            services,
            "channel.add",
            {
                "name": f"bench {name}",
                "type": "mock",
                "base_url": base_url,
                "api_key": "k",
                "models": [MODEL],
                "groups": [group],
                "headers": headers.get(name, {}),
                "channel_id": channel_id,
            },
        )
        lanes[name] = Lane(
            name, account_id, group, channel_id, key["key"], key["key_id"], limited["key"], limited["key_id"]
        )
    return Seeded(lanes)


def preload_history(client: Any, *, records: int = 10_000, accounts: int = 50, seed: int = 7, now_ms: int) -> int:
    """Write `records` usage records and their charge entries for `accounts` other accounts over the
    last 7 days (BatchWriteItem, 25 items a call). Returns the number of items written."""
    rng = random.Random(seed)  # deterministic data; not used for anything secret
    settings = Settings()
    items: list[tuple[str, dict[str, Any]]] = []
    for n in range(records):
        created = now_ms - rng.randrange(7 * 86_400_000)
        account = f"acct_other_{n % accounts:03d}"
        rid = request_id(created)
        stream = rng.random() < 0.5
        output = rng.randrange(16, 2_000)
        charge = 75 + output * 4  # micro-USD, roughly gpt-5.4-mini's price
        entry = LedgerEntry(
            account_id=account,
            entry_id=f"{rid}#charge",
            kind=EntryKind.CHARGE,
            amount=-charge,
            movement_id=rid,
            created_at=created,
            reason="request",
            key_id=f"key_other_{n % (2 * accounts):03d}",
        )
        record = UsageRecord(
            request_id=rid,
            created_at=created,
            account_id=account,
            key_id=entry.key_id,
            endpoint="chat.completions",
            status=RecordStatus.OK,
            http_status=200,
            model=MODEL,
            upstream_model=MODEL,
            channel_id="ch_other",
            stream=stream,
            tokens={"input": rng.randrange(20, 4_000), "output": output},
            usage_source="upstream",
            group="default",
            hold=600_000,
            charge=charge,
            latency_ms=rng.randrange(300, 20_000),
            ttft_ms=rng.randrange(200, 2_000) if stream else None,
            attempts=1,
            entry_ids=(entry.entry_id,),
        )
        items.append((settings.usage_table, record_to_item(record, shards=settings.usage_day_shards, ttl_days=0)))
        items.append((settings.ledger_table, entry_to_item(entry)))
    for start in range(0, len(items), 25):
        batch: dict[str, list[dict[str, Any]]] = {}
        for table, item in items[start : start + 25]:
            batch.setdefault(table, []).append({"PutRequest": {"Item": item}})
        while batch:
            batch = client.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}
    return len(items)
