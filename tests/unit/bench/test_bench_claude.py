"""The Claude benchmark's pure helpers: its requests and its check of each stream."""

from __future__ import annotations

import orjson

from bench.claude import payload, problem
from bench.load import Sample


def sample(raw: bytes, status: int = 200) -> Sample:
    return Sample(start=0.0, status=status, chunks=[(0.0, raw)])


def test_payloads() -> None:
    messages = orjson.loads(payload("claude-x", "messages", 40))
    assert messages["max_tokens"] and messages["stream"] is True and "[[len=40]]" in messages["messages"][0]["content"]
    chat = orjson.loads(payload("gpt-x", "chat", 40))
    assert chat["stream_options"] == {"include_usage": True} and "max_tokens" not in chat


def test_problem_checks_terminator_and_token_count() -> None:
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}}\n\n'
    )
    stop = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert problem(sample(delta * 2 + stop), "messages", 2) is None
    assert problem(sample(delta * 2), "messages", 2) == "stream did not end properly"
    assert problem(sample(delta + stop), "messages", 2) == "1 content deltas, expected 2"
    chunk = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    role = b'data: {"choices":[{"delta":{"content":""}}]}\n\n'
    assert problem(sample(role + chunk * 3 + b"data: [DONE]\n\n"), "chat", 3) is None
    assert problem(sample(b"", status=402), "chat", 3) == "HTTP 402"


def test_meter_costs_cover_the_four_cells() -> None:
    from bench.claude import CELLS, meter_costs

    costs = meter_costs(5, streams=2)
    assert set(costs) == set(CELLS) and all(v > 0 for v in costs.values())
