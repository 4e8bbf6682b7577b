"""The in-process variant: `EmulatorServer` on a thread of the test process (no child process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from moto.backends import get_backend
from tollway_local.emulator import EmulatorServer, client
from tollway_local.emulator.restore import read_snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's state is process-global: leave nothing behind for the next test."""
    monkeypatch.setenv("MOTO_PORT", "0")  # the server sets it; monkeypatch puts the old value back
    yield
    for service in ("dynamodb", "s3", "secretsmanager", "sns"):
        get_backend(service).reset()


def test_an_in_process_server_serves_and_snapshots(clean_moto: None, tmp_path: Path, template: Path) -> None:
    server = EmulatorServer(template=template, state_dir=tmp_path, gc_freeze=False)
    endpoint = server.start()
    try:
        dynamodb = client("dynamodb", endpoint)
        dynamodb.put_item(TableName="HoldsTable", Item={"hold_id": {"S": "in-process"}})
        assert server.app.stats()["mutating_requests"] >= 1
    finally:
        server.stop()

    snapshot = read_snapshot(tmp_path / "emulator" / "snapshot.jsonl")
    assert snapshot is not None
    assert snapshot.items("HoldsTable") == [{"hold_id": {"S": "in-process"}}]
