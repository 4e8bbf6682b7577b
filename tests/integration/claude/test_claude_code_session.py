"""A Claude Code session replayed over raw HTTP, shaped as Claude Code 2.1.328 sends it (recorded in
test_claude_code_cli.py): probes, count_tokens with `?beta=true`, streaming turns with its beta flags, both
auth headers, a thinking + tool turn and its tool_result, then a plain turn. Two Anthropic channels serve the
model with different upstream keys on one mock, whose prompt cache and thinking signatures are per key: a
conversation that moved would lose its cache reads and fail on its signature, so every turn answered right
is itself proof of stickiness — and the test also checks the key each turn reached."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer
from tollway_local.mock.message_usage import count_input_tokens

from tests.integration.claude.conftest import claude_charge
from tests.support.anthropic_sse import assemble, sse_events
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

MODEL = "t-claude-code"
BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "per-turn-control-2026-07-01,thinking-token-count-2026-05-13,effort-2025-11-24"
)
TOOLS: list[dict[str, Any]] = [
    {
        "name": "Bash",
        "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
    {
        "name": "Read",
        "description": "Read a file from the local filesystem",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    },
]
HOUR = {"type": "ephemeral", "ttl": "1h"}


def headers(key: str, session: str) -> dict[str, str]:
    """Claude Code's headers: both credentials (ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY set), its betas."""
    return {
        "authorization": f"Bearer {key}",
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": BETAS,
        "anthropic-dangerous-direct-browser-access": "true",
        "x-app": "cli",
        "user-agent": "claude-cli/2.1.328 (external, cli)",
        "x-claude-code-session-id": session,
        "x-client-request-id": str(uuid.uuid4()),
        "x-stainless-lang": "js",
        "x-stainless-retry-count": "0",
    }


def body(session: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 4000,
        "stream": True,
        "system": [
            {
                "type": "text",
                "text": f"x-anthropic-billing-header: cc_version=2.1.328.{session[:3]}; cc_entrypoint=cli;",
            },
            {"type": "text", "text": "You are Claude Code. " + "Follow the rules. " * 60, "cache_control": HOUR},
        ],
        "tools": TOOLS,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": session})},
        "messages": messages,
    }


def with_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude Code moves its message breakpoint to the last block of every new request."""
    out = json.loads(json.dumps(messages))
    for message in out:
        for block in message["content"]:
            block.pop("cache_control", None)
    out[-1]["content"][-1]["cache_control"] = HOUR
    return out


def run_session(http: httpx.Client, key: str) -> tuple[list[dict[str, Any]], str]:
    session = str(uuid.uuid4())
    first_user = {
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-reminder>\nAs you answer, follow the rules.\n</system-reminder>"},
            {"type": "text", "text": "read the notes [[len=2]] [[reasoning=3]] [[tool_use:Read]]"},
        ],
    }
    messages = [first_user]
    counted = http.post(
        "/v1/messages/count_tokens?beta=true",
        json={k: v for k, v in body(session, messages).items() if k not in ("max_tokens", "stream")},
        headers=headers(key, session),
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["input_tokens"] == count_input_tokens(body(session, messages))
    answers = []
    for follow in (
        lambda a: {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": a["content"][-1]["id"], "content": "the notes say hi"}],
        },
        lambda a: {"role": "user", "content": [{"type": "text", "text": "thanks [[len=3]]"}]},
        None,
    ):
        response = http.post(
            "/v1/messages?beta=true", json=body(session, with_breakpoint(messages)), headers=headers(key, session)
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        answer = assemble(sse_events(response.content))
        answers.append(answer)
        if follow is None:
            break
        messages = [*messages, {"role": "assistant", "content": answer["content"]}, follow(answer)]
    return answers, session


def test_claude_code_session_is_answered_sticky_and_billed(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([MODEL], mock.url, type="anthropic", api_key="upstream-key-a")
    stack.channel([MODEL], mock.url, type="anthropic", api_key="upstream-key-b")
    who = stack.customer(credit_usd="5.00")
    with httpx.Client(base_url=stack.url, timeout=60, trust_env=False) as http:
        assert http.head("/").status_code == 200
        assert http.head("/api/hello").status_code == 200
        sessions = [run_session(http, who.key) for _ in range(4)]
        assert http.post("/api/event_logging/batch", json={"events": []}).status_code in (200, 204)

    for answers, _ in sessions:
        first, second, third = answers
        assert first["stop_reason"] == "tool_use"
        assert [b["type"] for b in first["content"]] == ["thinking", "text", "tool_use"]
        assert first["content"][0]["signature"]  # display "omitted": empty thinking, real signature
        assert first["usage"]["cache_creation_input_tokens"] > 0
        assert second["stop_reason"] == third["stop_reason"] == "end_turn"
        # the same key served the earlier turns: their prefixes are read from its cache
        assert second["usage"]["cache_read_input_tokens"] >= first["usage"]["cache_creation_input_tokens"]
        assert third["usage"]["cache_read_input_tokens"] > second["usage"]["cache_read_input_tokens"]

    log = [r for r in mock.stats()["requests_log"] if r["endpoint"] in ("/messages", "/messages/count_tokens")]
    assert len(log) == 4 * 4
    for record in log:
        sent = record["headers"]
        assert who.key not in json.dumps(sent)  # the customer's key never goes upstream
        assert sent["anthropic-beta"] == BETAS and sent["anthropic-version"] == "2023-06-01"
        assert record["query"] in ("", "beta=true")
        assert record["status"] == 200
    # sessions ran one after another, each as count_tokens then three turns: each on one upstream key
    ordered = sorted(log, key=lambda r: r["mock_request_id"])
    per_session = [ordered[i : i + 4] for i in range(0, 16, 4)]
    for one in per_session:
        assert [r["endpoint"] for r in one] == ["/messages/count_tokens", *["/messages"] * 3]
        sessions = {json.loads(r["body"]["metadata"]["user_id"])["session_id"] for r in one[1:]}
        assert len(sessions) == 1
        assert len({r["headers"]["x-api-key"] for r in one}) == 1, [r["headers"]["x-api-key"] for r in one]

    records = stack.wait_records(who.account_id, 16)
    messages = sorted((r for r in records if r["endpoint"] == "messages"), key=lambda r: r["created_at"])
    counts = [r for r in records if r["endpoint"] == "messages.count_tokens"]
    assert len(messages) == 12 and len(counts) == 4
    assert all(r["charge"] == 0 for r in counts)
    sent_usage = sorted((r for r in log if r["endpoint"] == "/messages"), key=lambda r: r["mock_request_id"])
    assert sorted(r["charge"] for r in messages) == sorted(claude_charge(r["usage"]) for r in sent_usage)
    assert all(r["status"] == "ok" and r["format"] == "native" for r in messages)
