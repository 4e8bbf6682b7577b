"""A Claude Code-like session replayed against the relay, as Claude Code sends it behind a custom base
URL (no ``/v1``): probes, telemetry, count_tokens with ``?beta=true``, streaming turns with beta headers
and both auth headers, a tool turn — every call answered right, every turn on one channel, the beta
flags forwarded unchanged and tollway's key never forwarded."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

BETA = "claude-code-20250219,interleaved-thinking-2025-05-14"
SYSTEM = [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.140.abc; cc_entrypoint=cli; cch=1;"},
    {"type": "text", "text": "You are Claude Code. " * 30, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
]
TOOLS = [
    {
        "name": "Bash",
        "description": "run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    }
]


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_claude_code_session(stack: LocalStack, mock: MockServer) -> None:
    mock.reset()
    stack.channel(["t-claude-code"], mock.url, type="anthropic", api_key="upstream-a")
    stack.channel(["t-claude-code"], mock.url, type="anthropic", api_key="upstream-b")
    who = stack.customer()
    headers = {
        "authorization": f"Bearer {who.key}",
        "x-api-key": who.key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": BETA,
        "x-app": "cli",
        "user-agent": "claude-cli/2.1.140 (external, cli)",
        "x-claude-code-session-id": "3f1c-session",
    }
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        assert http.head("/").status_code == 200
        assert http.head("/api/hello").status_code == 200
        assert http.post("/api/event_logging/batch", json={"events": []}).status_code == 204
        models = http.get("/v1/models?limit=1000", headers=headers).json()
        assert "t-claude-code" in [m["id"] for m in models["data"]]

        history: list[dict[str, Any]] = [{"role": "user", "content": "list the files [[tool_use]] [[len=3]]"}]
        body: dict[str, Any] = {
            "model": "t-claude-code",
            "max_tokens": 400,
            "system": SYSTEM,
            "tools": TOOLS,
            "metadata": {"user_id": "user_abc_account_def_session_3f1c"},
            "thinking": {"type": "adaptive"},
            "stream": True,
        }
        counted = http.post("/v1/messages/count_tokens?beta=true", json={**body, "messages": history}, headers=headers)
        assert counted.status_code == 200 and counted.json()["input_tokens"] > 0

        first = http.post("/v1/messages?beta=true", json={**body, "messages": history}, headers=headers)
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
        got = events(first.text)
        assert got[0][0] == "message_start" and got[0][1]["message"]["usage"]["input_tokens"] > 0
        assert got[-1][0] == "message_stop"
        delta = next(d for name, d in got if name == "message_delta")
        assert delta["delta"]["stop_reason"] == "tool_use"
        blocks: dict[int, dict[str, Any]] = {}
        partial: dict[int, str] = {}
        for name, data in got:
            if name == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"])
            elif name == "content_block_delta":
                d = data["delta"]
                block = blocks[data["index"]]
                if d["type"] == "thinking_delta":
                    block["thinking"] += d["thinking"]
                elif d["type"] == "signature_delta":
                    block["signature"] = d["signature"]
                elif d["type"] == "text_delta":
                    block["text"] += d["text"]
                elif d["type"] == "input_json_delta":
                    partial[data["index"]] = partial.get(data["index"], "") + d["partial_json"]
        for index, text in partial.items():
            blocks[index]["input"] = json.loads(text)
        content = [blocks[i] for i in sorted(blocks)]
        tool_use = next(b for b in content if b["type"] == "tool_use")
        history += [
            {"role": "assistant", "content": content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "a.py b.py"}],
            },
        ]
        # The next turn sends the signed thinking back: it only verifies on the same upstream key.
        second = http.post("/v1/messages?beta=true", json={**body, "messages": history}, headers=headers)
        assert second.status_code == 200, second.text
        second_events = events(second.text)
        assert second_events[-1][0] == "message_stop"
        assert second_events[0][1]["message"]["usage"]["cache_read_input_tokens"] > 0

    log = [e for e in mock.stats()["requests_log"] if "/messages" in e["path"]]
    assert [e["path"] for e in log] == ["/v1/messages/count_tokens", "/v1/messages", "/v1/messages"]
    for entry in log:
        assert entry["headers"]["anthropic-beta"] == BETA
        assert entry["headers"]["anthropic-version"] == "2023-06-01"
        assert who.key not in json.dumps(entry["headers"])
    assert len({e["headers"]["x-api-key"] for e in log}) == 1  # one upstream key for the whole session
    records = stack.wait_records(who.account_id, 3)
    assert len({r["channel_id"] for r in records}) == 1
    assert {r["endpoint"] for r in records} == {"messages", "messages.count_tokens"}
