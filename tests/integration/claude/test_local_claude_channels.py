"""`tollway local` connects Claude: its built-in mock speaks Anthropic's API as the `claude-mock` channel for
every shipped Claude model, and with ANTHROPIC_API_KEY in the environment it adds an `anthropic` channel for
the real API (here pointed at a loopback mock through ANTHROPIC_BASE_URL: no test leaves the machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

SHIPPED_CLAUDE = "claude-sonnet-5-5"


def channels(stack: LocalStack) -> dict[str, dict[str, object]]:
    listed = stack.admin("channel.list")
    rows = listed["channels"] if isinstance(listed, dict) else listed
    return {str(c["channel_id"]): c for c in rows}


def test_demo_key_talks_to_the_built_in_claude_mock(stack: LocalStack) -> None:
    found = channels(stack)
    assert found["claude-mock"]["type"] == "anthropic"
    assert SHIPPED_CLAUDE in found["claude-mock"]["models"]  # type: ignore[operator]
    assert SHIPPED_CLAUDE not in found["mock"]["models"]  # type: ignore[operator]  # never the OpenAI dialect
    with anthropic.Anthropic(base_url=stack.url, api_key=stack.demo_key, max_retries=0) as client:
        message = client.messages.create(
            model=SHIPPED_CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hello [[len=3]]"}]
        )
        assert message.stop_reason == "end_turn" and len(message.content[0].text.split()) == 3  # type: ignore[union-attr]
        assert SHIPPED_CLAUDE in [m.id for m in client.models.list(limit=1000)]


@pytest.fixture
def real_api_stand_in() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def test_anthropic_api_key_adds_the_real_api_channel(tmp_path: Path, real_api_stand_in: MockServer) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-from-env", "ANTHROPIC_BASE_URL": real_api_stand_in.url}
    local = LocalStack(tmp_path / "state", env=env).start()
    try:
        anthropic_channel = channels(local)["anthropic"]
        assert anthropic_channel["type"] == "anthropic" and anthropic_channel["priority"] == 10
        assert anthropic_channel["base_url"] == real_api_stand_in.url
        with anthropic.Anthropic(base_url=local.url, api_key=local.demo_key, max_retries=0) as client:
            client.messages.create(model=SHIPPED_CLAUDE, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        (sent,) = [r for r in real_api_stand_in.stats()["requests_log"] if r["endpoint"] == "/messages"]
        assert sent["headers"]["x-api-key"] == "sk-ant-from-env"  # priority 10 wins over the mock
    finally:
        local.stop()
