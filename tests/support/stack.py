"""The real local stack (``tollway local``) as a subprocess, with helpers tests use to drive it.

Tests talk to it only as users do: HTTP to the relay (the official ``openai`` SDK), the admin route
(``tollway admin``'s transport), and — to inspect or to simulate what the relay cannot see — the
emulator's DynamoDB API through boto3.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import openai
from tollway.accounts.dynamodb import DynamoAccounts
from tollway.ledger.dynamodb import DynamoLedger
from tollway.tables import Tables
from tollway_cli.transport import LocalTransport

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
TEST_PRICES = ROOT / "tests" / "data" / "test-prices.json"


def wait_until(probe: Callable[[], T | None], *, timeout_s: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy (history is written just after a response)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Customer:
    account_id: str
    key: str
    key_id: str


class LocalStack:
    def __init__(self, state_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.demo_key = ""
        self.banner = ""
        self.returncode: int | None = None  # the exit status, once stopped
        self.info: dict[str, Any] = {}
        self.added_channels: list[str] = []
        self.open_clients: list[openai.OpenAI] = []
        self._dynamodb: Any = None
        self._dynamodb_endpoint = ""

    def start(self, timeout_s: float = 90.0) -> LocalStack:
        env = dict(os.environ)
        env.update(
            {
                "TOLLWAY_MOCK_LATENCY_MS": "0",
                "TOLLWAY_MOCK_TOKENS_PER_S": "0",
                "TOLLWAY_PRICE_FILE": str(TEST_PRICES),
                # Settle before answering, as on Lambda: a test reads the balance right after a call.
                # tests/integration/relay/test_settle_after_answer.py runs the local default (after).
                "TOLLWAY_SETTLE_AFTER_ANSWER": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Never the real APIs from a test: the developer's keys stay out unless a test passes its own.
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
            env.pop(name, None)
        env.update(self.env)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.state_dir / "stack.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tollway_cli.main", "local", "--port", "0", "--state-dir", str(self.state_dir)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self._log.close()
                raise RuntimeError(f"tollway local exited: {(self.state_dir / 'stack.log').read_text()[-3000:]}")
            lines.append(line)
            if "demo API key" in line:
                break
        self.banner = "".join(lines)
        url = re.search(r"OpenAI base URL\s+(\S+)/v1", self.banner)
        key = re.search(r"(sk-[A-Za-z0-9]+)", self.banner)
        assert url and key, self.banner
        self.url, self.demo_key = url.group(1), key.group(1)
        self.info = json.loads((self.state_dir / "local.json").read_text())
        return self

    def stop(self) -> str:
        """Stop as Ctrl-C does; returns what it printed after the banner."""
        if self.process is None:
            return ""
        self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.returncode = self.process.returncode
        self.process = None
        self.close_clients()
        self._log.close()
        return out or ""

    # ---- operator side ----

    def admin_envelope(self, command: str, **args: Any) -> dict[str, Any]:
        return LocalTransport(self.state_dir).send(command, args)

    def admin(self, command: str, **args: Any) -> Any:
        envelope = self.admin_envelope(command, **args)
        assert envelope["ok"], envelope
        return envelope["result"]

    def customer(self, credit_usd: str = "1.00", *, group: str = "default", **key_args: Any) -> Customer:
        account = self.admin("account.create", name=f"test {uuid.uuid4().hex[:6]}", group=group, credit_usd=credit_usd)
        key = self.admin("key.create", account_id=account["account_id"], **key_args)
        return Customer(account_id=account["account_id"], key=key["key"], key_id=key["key_id"])

    def channel(self, models: list[str], base_url: str, **args: Any) -> str:
        args.setdefault("name", f"test {models[0]}")
        args.setdefault("type", "mock")
        args.setdefault("api_key", "test-upstream-key")
        result = self.admin("channel.add", models=models, base_url=base_url, **args)
        self.added_channels.append(str(result["channel_id"]))
        return str(result["channel_id"])

    def records(self, account_id: str, **flt: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.admin("usage.query", account_id=account_id, limit=1000, **flt)["records"]
        return records

    def wait_records(self, account_id: str, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        return wait_until(
            lambda: (r if len(r) >= count else None) if (r := self.records(account_id)) is not None else None,
            timeout_s=timeout_s,
            what=f"{count} usage records",
        )

    def balance(self, account_id: str) -> int:
        return int(self.admin("account.get", account_id=account_id)["balance"])

    def audit(self, account_id: str | None = None) -> dict[str, Any]:
        args = {"account_id": account_id} if account_id else {}
        result: dict[str, Any] = self.admin("audit.run", **args)
        return result

    # ---- customer side ----

    def client(self, key: str, **kwargs: Any) -> openai.OpenAI:
        """An official SDK client for ``key``; closed by the test fixture when the test ends."""
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60)
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=key, **kwargs)
        self.open_clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.open_clients:
            client.close()
        self.open_clients.clear()

    # ---- behind the relay's back ----

    def dynamodb(self) -> Any:
        """A boto3 client on the emulator; one per stack (clients are thread-safe, and slow to build)."""
        if self._dynamodb is None or self._dynamodb_endpoint != self.info["emulator"]:
            self._dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=self.info["emulator"],
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
            self._dynamodb_endpoint = self.info["emulator"]
        return self._dynamodb

    def other_process_accounts(self) -> DynamoAccounts:
        """The account store as another function (e.g. the admin Lambda on AWS) has it: the same tables,
        none of the relay's caches — its changes reach the relay only through the store."""
        tables = Tables(
            accounts="AccountsTable",
            keys="KeysTable",
            holds="HoldsTable",
            ledger="LedgerTable",
            usage="UsageTable",
            config="ConfigTable",
        )
        client = self.dynamodb()
        return DynamoAccounts(client, tables, DynamoLedger(client, tables))

    def open_holds(self, account_id: str) -> list[dict[str, Any]]:
        items = self.dynamodb().scan(TableName="HoldsTable").get("Items", [])
        return [i for i in items if i["account_id"]["S"] == account_id]
