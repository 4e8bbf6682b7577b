"""A scripted operator day on the local stack, through `tollway admin` (a real subprocess) and the
customer's own tools (the official openai SDK, POST /api/redeem):

create group vip → channels for each group → an account with the sign-up credit → a key limited to two
models and $0.50 → a batch of codes; the customer redeems one and calls the relay; the operator reads
the records, stats, an exported CSV (downloaded by the CLI), the trail, and a clean audit.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import ROOT, LocalStack, wait_until

pytestmark = pytest.mark.integration


def admin(stack: LocalStack, *args: str, cwd: Path = ROOT) -> Any:
    """`tollway admin ... --json`; returns the result of a successful command."""
    done = subprocess.run(
        [sys.executable, "-m", "tollway_cli.main", "admin", "--state-dir", str(stack.state_dir), *args, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    envelope = json.loads(done.stdout)
    assert envelope["ok"], envelope
    return envelope["result"]


def test_an_operator_day(stack: LocalStack, mock: MockServer, tmp_path: Path) -> None:
    admin(stack, "group", "set", "--name", "vip", "--ratio", "0.8", "--description", "20% off, own channel")
    default = admin(stack, "channel", "add", "--name", "everyone", "--type", "mock", "--base-url", mock.base_url,
                    "--api-key", "up-default", "--models", "t-op,t-op-b,t-op-other", "--groups", "default")  # fmt: skip
    vip = admin(stack, "channel", "add", "--name", "vip only", "--type", "mock", "--base-url", mock.base_url,
                "--api-key", "up-vip", "--models", "t-op,t-op-b,t-op-other", "--groups", "vip")  # fmt: skip
    stack.added_channels += [default["channel_id"], vip["channel_id"]]
    probe = admin(stack, "channel", "test", "--channel-id", vip["channel_id"], "--model", "t-op")
    assert probe["ok"] is True and probe["status"] == 200 and probe["latency_ms"] >= 0  # one real minimal call
    assert mock.stats()["requests_log"][-1]["headers"]["authorization"] == "Bearer up-vip"

    account = admin(stack, "account", "create", "--name", "Acme Research", "--group", "vip")
    assert account["balance_usd"] == "0.20"  # the sign-up credit
    key = admin(stack, "key", "create", "--account-id", account["account_id"], "--name", "lab",
                "--models", "t-op,t-op-b", "--limit-usd", "0.50")  # fmt: skip
    batch = admin(stack, "redeem", "create", "--value-usd", "1.00", "--count", "3", "--name", "welcome")
    assert len(batch["codes"]) == 3

    # The customer redeems one code with their own key, then calls the relay.
    with httpx.Client(timeout=30) as http:
        redeemed = http.post(
            f"{stack.url}/api/redeem",
            json={"code": batch["codes"][0]},
            headers={"authorization": f"Bearer {key['key']}"},
        )
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["balance_usd"] == "1.20"
    with stack.client(key["key"]) as client:
        reply = client.chat.completions.create(
            model="t-op", messages=[{"role": "user", "content": "summarise [[len=25]]"}], max_tokens=50
        )
        assert reply.usage is not None
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.chat.completions.create(
                model="t-op-other", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
    assert refused.value.code == "model_not_allowed"
    # The vip request went through the vip channel, at the vip price (0.8 of 1 and 4 micro-USD per token).
    assert mock.stats()["requests_log"][-1]["headers"]["authorization"] == "Bearer up-vip"
    expected = math.ceil((reply.usage.prompt_tokens * 1 + reply.usage.completion_tokens * 4) * 0.8)

    # The operator's side.
    records = wait_until(lambda: r if len(r := stack.records(account["account_id"])) == 2 else None, what="two records")
    served = next(r for r in records if r["status"] == "ok")
    assert served["channel_id"] == vip["channel_id"] and served["group"] == "vip" and served["charge"] == expected
    assert next(r for r in records if r["status"] == "refused")["http_status"] == 403
    usage = admin(stack, "usage", "query", "--account-id", account["account_id"], "--status", "ok")
    assert [r["request_id"] for r in usage["records"]] == [served["request_id"]]

    stats = admin(stack, "stats", "query", "--by", "account", "--account-id", account["account_id"])
    (row,) = stats["rows"]
    assert (row["requests"], row["ok"], row["refused"], row["charge"]) == (2, 1, 1, expected)
    assert row["error_rate"] == "0.0000" and row["latency_p50_ms"] is not None and row["ttft_p95_ms"] is not None
    by_model = admin(stack, "stats", "query", "--by", "model", "--account-id", account["account_id"])
    assert {r["model"] for r in by_model["rows"]} == {"t-op", "t-op-other"}

    exported = admin(stack, "usage", "export", "--account-id", account["account_id"], cwd=tmp_path)
    saved = tmp_path / exported["filename"]
    assert saved.is_file() and exported["download_url"].startswith(stack.info["emulator"])
    text = saved.read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert {r["request_id"] for r in rows} == {r["request_id"] for r in records}
    assert key["key"] not in text

    balance = admin(stack, "account", "get", "--account-id", account["account_id"])
    assert balance["balance"] == 1_200_000 - expected
    audit = admin(stack, "audit", "run", "--account-id", account["account_id"])
    assert audit["ok"] and audit["reports"][0]["entries"] == 3  # sign-up credit, redemption, the charge
    assert admin(stack, "audit", "run")["ok"]

    trail = admin(stack, "trail", "query", "--actor", "local", "--limit", "1000")["entries"]
    done = [e["command"] for e in trail if e["outcome"] == "ok"]
    for command in ("group.set", "channel.add", "account.create", "key.create", "redeem.create"):
        assert command in done
    assert "up-vip" not in json.dumps(trail) and batch["codes"][0] not in json.dumps(trail)
    listed = admin(stack, "redeem", "list", "--batch-id", batch["batch_id"])
    assert listed["counts"] == {"used": 1, "unused": 2}
