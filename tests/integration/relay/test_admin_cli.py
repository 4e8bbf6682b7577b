"""The operator's path through ``tollway admin`` (a real subprocess against the real stack), and a
restart that keeps everything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tollway_local.mock import MockServer

from tests.support.stack import ROOT, LocalStack

pytestmark = pytest.mark.integration


def cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tollway_cli.main", "admin", "--state-dir", str(stack.state_dir), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_operator_creates_account_key_channel_then_reads_usage_and_audits(stack: LocalStack, mock: MockServer) -> None:
    created = cli(stack, "account", "create", "--name", "Acme", "--credit-usd", "2.50", "--json")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)["result"]
    assert account["balance"] == 2_500_000 and account["balance_usd"] == "2.50"

    key_run = cli(stack, "key", "create", "--account-id", account["account_id"], "--name", "ci", "--json")
    assert key_run.returncode == 0
    key = json.loads(key_run.stdout)["result"]
    assert key["key"].startswith("sk-") and key["prefix"].endswith(key["key"][-4:])

    channel_run = cli(
        stack,
        "channel",
        "add",
        "--name",
        "acme upstream",
        "--base-url",
        mock.base_url,
        "--api-key",
        "up-secret",
        "--models",
        "t-admin",
        "--type",
        "mock",
        "--json",
    )
    assert channel_run.returncode == 0, channel_run.stderr
    channel_id = json.loads(channel_run.stdout)["result"]["channel_id"]
    stack.added_channels.append(channel_id)
    assert "up-secret" not in channel_run.stdout

    reply = stack.client(key["key"]).chat.completions.create(
        model="t-admin", messages=[{"role": "user", "content": "hello [[len=5]]"}], max_tokens=5
    )
    assert mock.stats()["requests_log"][-1]["headers"]["authorization"] == "Bearer up-secret"

    usage = cli(stack, "usage", "query", "--account-id", account["account_id"], "--json")
    (record,) = json.loads(usage.stdout)["result"]["records"]
    assert record["request_id"] and record["tokens"]["output"] == 5
    assert reply.usage is not None and record["tokens"]["input"] == reply.usage.prompt_tokens
    assert record["charge"] == reply.usage.prompt_tokens * 1 + 5 * 4  # t-admin: 1 and 4 micro-USD per token

    table = cli(stack, "usage", "query", "--account-id", account["account_id"])
    assert table.returncode == 0 and record["request_id"] in table.stdout and "charge" in table.stdout

    audit = cli(stack, "audit", "run", "--json")
    assert audit.returncode == 0 and json.loads(audit.stdout)["result"]["ok"] is True


def test_exit_codes_for_command_and_usage_errors(stack: LocalStack) -> None:
    missing = cli(stack, "account", "get", "--account-id", "acct_nobody")
    assert missing.returncode == 1 and "not_found" in missing.stderr
    invalid = cli(stack, "account", "create", "--name", "X", "--credit-usd", "0.0000001")
    assert invalid.returncode == 2 and "--credit-usd: USD amount finer than one micro-USD" in invalid.stderr
    unknown_option = cli(stack, "account", "create", "--nmae", "X")
    assert unknown_option.returncode == 2
    forgot = cli(stack, "key", "create")
    assert forgot.returncode == 2 and "--account-id" in forgot.stderr


def test_admin_route_refuses_without_the_admin_secret(stack: LocalStack) -> None:
    import httpx

    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{stack.url}/admin/account.get",
            json={"account_id": "acct_demo"},
            headers={"authorization": f"Bearer {stack.demo_key}"},
        )
    assert response.status_code == 401
    assert "acct_demo" not in response.text


def test_restart_prints_the_same_key_and_keeps_the_state(tmp_path: Path) -> None:
    first = LocalStack(tmp_path / "state").start()
    try:
        client = first.client(first.demo_key)
        client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
        balance = first.balance("acct_demo")
        records = first.wait_records("acct_demo", 1)
        assert balance < 1_000_000
    finally:
        first.stop()
    # Ctrl-C is the normal way to stop it: exit 0, no traceback
    assert first.returncode == 0
    assert "Traceback" not in (tmp_path / "state" / "stack.log").read_text()
    second = LocalStack(tmp_path / "state").start()
    try:
        assert second.demo_key == first.demo_key
        assert second.balance("acct_demo") == balance
        assert [r["request_id"] for r in second.records("acct_demo")] == [r["request_id"] for r in records]
        assert second.audit()["ok"]
        second.client(second.demo_key).models.list()
    finally:
        second.stop()
    assert oct((tmp_path / "state" / "demo-key").stat().st_mode & 0o777) == "0o600"
