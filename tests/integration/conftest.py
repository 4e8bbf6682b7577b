"""Integration fixtures: one real local stack per session; tests own their accounts, keys, channels
and (where they need faults or pacing) their own mock upstream on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tollway_local.mock import MockConfig, MockServer

from tests.support.stack import LocalStack


@pytest.fixture(scope="session")
def session_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("tollway-state")
    local = LocalStack(state).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def stack(session_stack: LocalStack) -> Iterator[LocalStack]:
    """The session's stack; channels a test adds are removed when it ends, so tests never route to
    each other's upstreams."""
    added: list[str] = []
    session_stack.added_channels = added
    yield session_stack
    session_stack.close_clients()
    for channel_id in added:
        session_stack.admin_envelope("channel.remove", channel_id=channel_id)
    session_stack.added_channels = []


@pytest.fixture
def mock() -> Iterator[MockServer]:
    """A fast mock upstream owned by one test (its own stats, its own faults)."""
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture
def paced_mock() -> Iterator[MockServer]:
    """A mock that streams at a human pace (first token after 50 ms, then 50 tokens/s)."""
    with MockServer(MockConfig(latency_ms=50, tokens_per_s=50)) as server:
        yield server
