"""Reading an Anthropic Messages stream by hand, as Claude Code does: every event must have an `event:` line
and a `data:` line of the same type, and the final message is assembled from the deltas."""

from __future__ import annotations

from typing import Any

import orjson


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of an Anthropic SSE body; asserts each event's two lines agree."""
    events: list[tuple[str, dict[str, Any]]] = []
    for chunk in raw.decode().replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in chunk.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        names = [line[7:] for line in lines if line.startswith("event: ")]
        datas = [line[6:] for line in lines if line.startswith("data: ")]
        assert len(names) == 1 and len(datas) == 1, f"an event needs one event: and one data: line: {chunk!r}"
        data = orjson.loads(datas[0])
        assert data["type"] == names[0], chunk
        events.append((names[0], data))
    return events


def assemble(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The final message of a stream (usage: message_start's, each field replaced by message_delta's)."""
    message: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    for name, data in events:
        if name == "message_start":
            message = dict(data["message"])
            message["usage"] = dict(message.get("usage") or {})
        elif name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"])
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
        elif name == "content_block_stop":
            if data["index"] in partial:
                blocks[data["index"]]["input"] = orjson.loads(partial.pop(data["index"]) or "{}")
        elif name == "message_delta":
            message.update({k: v for k, v in data["delta"].items() if k in ("stop_reason", "stop_sequence")})
            message["usage"].update(data.get("usage") or {})
        elif name == "error":
            raise AssertionError(f"error event: {data}")
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message
