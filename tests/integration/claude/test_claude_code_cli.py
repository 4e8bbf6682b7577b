"""The real Claude Code CLI (pinned by `make claude-code`, 2.1.328, in .tools/) run offline and
non-interactively: first against the mock directly, to record what it sends, then through the local stack.

What Claude Code 2.1.328 sends (`claude -p PROMPT --output-format json`, observed with the mock as a
recording server — every request lands in its log):

* With `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`: only `POST {base}/v1/messages?beta=true`, one per model
  turn — no model discovery, no count_tokens, no telemetry to the base URL. Without it, also a
  `HEAD {base}/api/hello` preconnect probe first. (count_tokens is used by interactive features, not `-p`.)
* Headers: `authorization: Bearer <ANTHROPIC_AUTH_TOKEN>` and, when `ANTHROPIC_API_KEY` is also set,
  `x-api-key: <that key>` beside it; `anthropic-version: 2023-06-01`; `anthropic-beta:
  claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,per-turn-control-2026-07-01,
  mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,
  effort-2025-11-24`; `x-app: cli`; `user-agent: claude-cli/2.1.328 (external, sdk-cli)`;
  `x-claude-code-session-id: <uuid>` (the same on every turn); `anthropic-dangerous-direct-browser-access:
  true`; `x-stainless-*` (its JS SDK 0.128.0).
* Body: `stream: true`; `max_tokens: 128000`; `thinking: {type: adaptive, display: omitted}`;
  `output_config: {effort: medium}`; `context_management.edits`; `metadata.user_id` = a JSON string
  `{"device_id", "account_uuid", "session_id"}`; a three-block `system` whose first block is
  `x-anthropic-billing-header: cc_version=2.1.328.<n>; cc_entrypoint=sdk-cli;` and whose other blocks carry
  `cache_control: {type: ephemeral}` (5-minute: no subscription login); a dozen tools; the user turn as two
  text blocks (a `<system-reminder>` and the prompt); one message breakpoint on the newest block; with
  `per-turn-control-2026-07-01` or `mid-conversation-tool-changes-2026-07-01` (which of them varies from run
  to run: a feature rollout keyed by its device id), a `role: "system"` message after it. When that shape
  is refused (400), it retries at once without the 2026-07 betas and without the system-role message.
* A tool turn (Read) comes back with the assistant's thinking block (empty text, the upstream's signature),
  text and tool_use, then a user `tool_result`; the breakpoint moves to the newest block.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tollway_local.mock import MockServer

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

CLAUDE = Path(__file__).resolve().parents[3] / ".tools" / "node_modules" / ".bin" / "claude"
VERSION = "2.1.328"
MODEL = "t-claude-code"


def run_claude(home: Path, base_url: str, prompt: str, **env: str) -> dict[str, Any]:
    if not CLAUDE.exists():
        pytest.skip("Claude Code is not installed here: `make claude-code` (a prerequisite of `make test`)")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        **env,
    }
    environment = {k: v for k, v in environment.items() if v}
    done = subprocess.run(
        [str(CLAUDE), "-p", prompt, "--output-format", "json"],
        env=environment,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def messages_log(mock: MockServer) -> list[dict[str, Any]]:
    return [r for r in mock.stats()["requests_log"] if r["endpoint"] == "/messages"]


def test_what_claude_code_sends(tmp_path: Path, mock: MockServer) -> None:
    result = run_claude(
        tmp_path, mock.url, "say hi [[len=4]]", ANTHROPIC_AUTH_TOKEN="sk-token", ANTHROPIC_API_KEY="sk-key"
    )
    log = mock.stats()["requests_log"]
    assert {(r["method"], r["path"], r["query"]) for r in log} == {("POST", "/v1/messages", "beta=true")}
    assert [r["status"] for r in log] == [200]  # the mock takes its 2026-07 shape with the betas that allow it
    (sent,) = log
    headers, body = sent["headers"], sent["body"]
    assert headers["authorization"] == "Bearer sk-token" and headers["x-api-key"] == "sk-key"
    assert headers["anthropic-version"] == "2023-06-01"
    betas = headers["anthropic-beta"].split(",")
    assert "claude-code-20250219" in betas
    assert headers["x-app"] == "cli" and headers["user-agent"].startswith(f"claude-cli/{VERSION} ")
    session = headers["x-claude-code-session-id"]
    assert json.loads(body["metadata"]["user_id"])["session_id"] == session == result["session_id"]
    assert body["stream"] is True and body["model"] == MODEL
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert body["system"][0]["text"].startswith(f"x-anthropic-billing-header: cc_version={VERSION}.")
    assert all(b.get("cache_control") == {"type": "ephemeral"} for b in body["system"][1:])
    assert [m["role"] for m in body["messages"]][0] == "user"
    marked = [
        b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"] if "cache_control" in b
    ]
    assert [b["cache_control"] for b in marked] == [{"type": "ephemeral"}]  # one message breakpoint, at the end
    assert {t["name"] for t in body["tools"]} >= {"Bash", "Read", "Edit", "Write"}
    # its reading of the answer: the text and the usage the mock sent
    assert len(result["result"].split()) == 4 and result["is_error"] is False
    assert result["usage"]["output_tokens"] == sent["usage"]["output_tokens"]
    assert result["usage"]["cache_creation_input_tokens"] == sent["usage"]["cache_creation_input_tokens"]


def test_claude_code_probes_when_nonessential_traffic_is_allowed(tmp_path: Path, mock: MockServer) -> None:
    run_claude(
        tmp_path, mock.url, "hi [[len=1]]", ANTHROPIC_AUTH_TOKEN="t", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=""
    )
    paths = [(r["method"], r["path"]) for r in mock.stats()["requests_log"]]
    assert ("HEAD", "/api/hello") in paths and ("POST", "/v1/messages") in paths


def test_claude_code_answers_through_the_stack_and_is_charged(
    tmp_path: Path, stack: LocalStack, mock: MockServer
) -> None:
    stack.channel([MODEL], mock.url, type="anthropic")
    who = stack.customer()
    result = run_claude(tmp_path, stack.url, "say hi [[len=4]]", ANTHROPIC_AUTH_TOKEN=who.key)
    assert result["is_error"] is False and len(result["result"].split()) == 4
    sent = messages_log(mock)
    assert sent and all(r["status"] == 200 for r in sent)
    assert all(who.key not in json.dumps(r["headers"]) for r in sent)
    answered = [r for r in sent if r["usage"]]
    (record,) = [r for r in stack.wait_records(who.account_id, len(answered)) if r["status"] == "ok"]
    assert record["endpoint"] == "messages" and record["stream"] is True
    assert record["charge"] == claude_charge(answered[-1]["usage"]) > 0
    assert result["usage"]["output_tokens"] == answered[-1]["usage"]["output_tokens"]


def test_claude_code_tool_turn_through_the_stack(tmp_path: Path, stack: LocalStack, mock: MockServer) -> None:
    stack.channel([MODEL], mock.url, type="anthropic", api_key="upstream-key-a")
    stack.channel([MODEL], mock.url, type="anthropic", api_key="upstream-key-b")
    who = stack.customer()
    result = run_claude(tmp_path, stack.url, "read the notes [[len=2]] [[tool_use:Read]]", ANTHROPIC_API_KEY=who.key)
    assert result["is_error"] is False and result["num_turns"] >= 2
    answered = [r for r in messages_log(mock) if r["status"] == 200]
    assert len(answered) == 2
    first, second = answered
    assert {r["headers"]["x-api-key"] for r in answered} in ({"upstream-key-a"}, {"upstream-key-b"})  # sticky
    assert any(b["type"] == "tool_result" for b in second["body"]["messages"][-1]["content"])
    assert second["usage"]["cache_read_input_tokens"] > 0  # the same upstream key: its cache
    records = [r for r in stack.wait_records(who.account_id, 2) if r["status"] == "ok"]
    assert sorted(r["charge"] for r in records) == sorted(claude_charge(r["usage"]) for r in answered)
