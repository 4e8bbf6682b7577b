"""``tollway admin`` end to end in-process: parsed options → the real command registry (memory stores) →
what the operator reads. The transport is the only stand-in (the integration suite covers the HTTP one)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway_cli import main as cli

from tests.support.factories import memory_stores
from tests.unit.admin.helpers import services_of


class RegistryTransport:
    """Delivers a command straight to the registry, as the admin function would."""

    def __init__(self) -> None:
        self.context = AdminContext(services=services_of(memory_stores()), actor="local")

    def send(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        envelope: dict[str, Any] = json.loads(json.dumps(load().dispatch(command, args, self.context)))
        return envelope


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> RegistryTransport:
    found = RegistryTransport()
    monkeypatch.setattr(cli, "_transport", lambda ns: found)
    return found


def admin(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    ns = cli.build_parser().parse_args(["admin", *argv])
    ns.download_dir = None
    code = cli.run_admin(ns, out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_batch_of_ten_codes_is_printed_whole(transport: RegistryTransport) -> None:
    code, out, _ = admin("redeem", "create", "--value-usd", "5", "--count", "10")
    assert code == 0
    codes = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all("…" not in c and len(c) >= 16 for c in codes)
    assert "value: $5.00" in out


def test_json_carries_every_code_and_is_the_envelope(transport: RegistryTransport) -> None:
    code, out, _ = admin("redeem", "create", "--value-usd", "1", "--count", "3", "--json")
    envelope = json.loads(out)
    assert code == 0 and envelope["ok"] and len(envelope["result"]["codes"]) == 3
    assert out == json.dumps(envelope, indent=2) + "\n"  # the unchanged envelope, as scripts read it


def test_out_writes_a_batch_as_csv_once(transport: RegistryTransport, tmp_path: Path) -> None:
    target = tmp_path / "codes.csv"
    code, out, err = admin("redeem", "create", "--value-usd", "5", "--count", "10", "--out", str(target))
    assert code == 0 and "wrote 10 codes" in err
    rows = list(csv.DictReader(target.read_text().splitlines()))
    assert len(rows) == 10 and {r["value_usd"] for r in rows} == {"5.00"}
    assert all(r["code"] not in out for r in rows)  # in the file, not echoed again
    assert target.stat().st_mode & 0o777 == 0o600


def test_out_never_overwrites_and_then_prints_the_codes(transport: RegistryTransport, tmp_path: Path) -> None:
    target = tmp_path / "codes.csv"
    target.write_text("keep me\n")
    code, out, err = admin("redeem", "create", "--value-usd", "5", "--count", "2", "--out", str(target))
    assert code == 0 and "could not write" in err
    assert target.read_text() == "keep me\n"
    assert out.count("rdm-") == 2  # printed whole instead


def test_invite_codes_are_printed_whole_and_can_go_to_a_file(transport: RegistryTransport, tmp_path: Path) -> None:
    code, out, _ = admin("console", "invite", "--count", "7")
    invites = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert code == 0 and len(set(invites)) == 7 and all("…" not in i for i in invites)
    target = tmp_path / "invites.csv"
    code, out, err = admin("console", "invite", "--count", "3", "--out", str(target))
    rows = list(csv.DictReader(target.read_text().splitlines()))
    assert code == 0 and "wrote 3 invite codes" in err and len(rows) == 3
    assert all(r["invite"] and r["invite"] not in out for r in rows)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_new_key_is_printed_whole_and_can_go_to_a_file(transport: RegistryTransport, tmp_path: Path) -> None:
    _, out, _ = admin("account", "create", "--name", "a", "--credit-usd", "10", "--json")
    account_id = json.loads(out)["result"]["account_id"]
    code, out, _ = admin("key", "create", "--account-id", account_id)
    key = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("key: "))
    assert code == 0 and key.startswith("sk-") and len(key) > 30
    target = tmp_path / "key.csv"
    code, out, _ = admin("key", "create", "--account-id", account_id, "--out", str(target))
    (row,) = csv.DictReader(target.read_text().splitlines())
    assert row["key"].startswith("sk-") and row["key"] not in out and row["account_id"] == account_id


def test_an_empty_channel_key_is_a_usage_error_naming_the_option(transport: RegistryTransport) -> None:
    argv = ["channel", "add", "--name", "openai", "--base-url", "https://api.openai.com/v1", "--models", "gpt-4.1"]
    code, _, err = admin(*argv, "--api-key", "")
    assert code == 2
    assert "--api-key" in err and "relay" not in err and "charged" not in err
    code, out, _ = admin(*argv, "--channel-id", "self-hosted")  # no key at all: a self-hosted upstream
    assert code == 0 and "has_key: False" in out


def test_an_unexpected_failure_speaks_to_the_operator(
    transport: RegistryTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("the store refused")

    monkeypatch.setattr(transport.context.services.channel_secrets, "put", broken)
    argv = ["channel", "add", "--name", "o", "--base-url", "https://u.example/v1", "--models", "m", "--api-key", "k"]
    code, _, err = admin(*argv)
    assert code == 1 and "internal_error" in err and "channel.add failed unexpectedly" in err
    assert "relay" not in err and "charged" not in err


def test_human_output_shows_usd_and_utc_times(transport: RegistryTransport) -> None:
    _, out, _ = admin("account", "create", "--name", "a", "--credit-usd", "10", "--json")
    account_id = json.loads(out)["result"]["account_id"]
    _, out, _ = admin("account", "get", "--account-id", account_id)
    assert "balance: $10.00" in out
    assert "10000000" not in out
    created = next(line for line in out.splitlines() if line.startswith("created_at: "))
    assert created.endswith("Z") and "T" in created


def test_output_to_a_closed_pipe_ends_quietly() -> None:
    """`tollway admin … | head`: no BrokenPipeError traceback. The command is a long listing rendered by
    the real renderer (more than a pipe's buffer), the reader a real `head`."""
    script = (
        "import sys\n"
        "import tollway_cli.main as cli\n"
        "from tollway_cli.output import render\n"
        "rows = [{'account_id': f'acct_{n:06d}', 'balance': n} for n in range(20000)]\n"
        "cli._main = lambda argv: render(rows, sys.stdout) or 0\n"
        "sys.exit(cli.main(['admin', 'account', 'list']))\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    reader = subprocess.run(["head", "-n", "1"], stdin=writer.stdout, capture_output=True, text=True, check=False)
    writer.stdout.close()  # only the reader holds the pipe now: it leaves after one line
    stderr = writer.stderr.read().decode()
    writer.stderr.close()
    assert writer.wait(timeout=60) == 141
    assert reader.stdout.startswith("account_id")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


class _Answer:
    """A transport that answers every command with one envelope."""

    def __init__(self, envelope: dict[str, Any]) -> None:
        self.envelope = envelope

    def send(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        return self.envelope


@pytest.mark.parametrize(("probe_ok", "expected"), [(True, 0), (False, 1)])
def test_channel_test_exits_1_when_the_channels_call_failed(
    monkeypatch: pytest.MonkeyPatch, probe_ok: bool, expected: int
) -> None:
    result = {"channel_id": "ch_1", "ok": probe_ok, "status": 200 if probe_ok else 401, "latency_ms": 12}
    envelope = {"ok": True, "command": "channel.test", "result": result}
    monkeypatch.setattr(cli, "_transport", lambda ns: _Answer(envelope))
    code, out, _ = admin("channel", "test", "--channel-id", "ch_1")
    assert code == expected
    assert "ch_1" in out  # the result is shown either way


def test_only_channel_test_reads_ok_in_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    result = {"channel_id": "ch_1", "ok": False}
    envelope = {"ok": True, "command": "channel.balance", "result": result}
    monkeypatch.setattr(cli, "_transport", lambda ns: _Answer(envelope))
    assert admin("channel", "balance", "--channel-id", "ch_1")[0] == 0
