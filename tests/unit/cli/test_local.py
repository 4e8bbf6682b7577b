"""`tollway local`'s own choices: a busy port is a clear message, and --demo-key makes a given key the
demo account's (the ready relay events carry one)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tollway.keys import hash_key
from tollway.memory.backend import MemoryBackend
from tollway.services import Services
from tollway.settings import Settings
from tollway_cli.main import main
from tollway_local.bootstrap import bootstrap
from tollway_local.stack import PortInUse, _bind

EXAMPLE_KEY = "sk-EventsExampleKeyForSamLocalEventsExampleKe2Qswnc"


def test_a_busy_port_names_the_port_and_how_to_pick_another() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(PortInUse) as caught:
            _bind("127.0.0.1", port)
    finally:
        taken.close()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "--port" in message and "make local PORT=" in message


def test_the_cli_reports_a_busy_port_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    monkeypatch.chdir(Path(__file__).resolve().parents[3])  # template.yaml is found from the checkout
    try:
        code = main(["local", "--port", str(port), "--state-dir", str(tmp_path)])
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code == 1 and f"port {port}" in err and "Traceback" not in err


def test_a_malformed_demo_key_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--demo-key", "sk-nope"]) == 2
    assert "--demo-key" in capsys.readouterr().err


def test_demo_key_is_the_demo_accounts_key(tmp_path: Path) -> None:
    services = Services.in_memory(Settings(), MemoryBackend())
    boot = bootstrap(services, tmp_path, "http://127.0.0.1:9/v1", 1_796_000_000_000, demo_key=EXAMPLE_KEY)
    assert boot.demo_key == EXAMPLE_KEY
    key = services.accounts.get_key(hash_key(EXAMPLE_KEY))
    assert key is not None and key.account_id == boot.demo_account_id
    again = bootstrap(services, tmp_path, "http://127.0.0.1:9/v1", 1_796_000_000_001)  # a restart keeps it
    assert again.demo_key == EXAMPLE_KEY
