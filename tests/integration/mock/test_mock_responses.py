"""The mock's Responses API over real HTTP: exact usage, stored responses, streams with event lines,
tool calls, and the faults every endpoint must honour (an error mode, no_usage, cut)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.surface_usage import expected_response_usage

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as mock:
        yield mock


@pytest.fixture
def http(server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10, trust_env=False) as client:
        yield client


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def test_create_get_continue_and_delete(http: httpx.Client) -> None:
    body = {"model": "gpt-x", "input": "hello there [[len=4]] [[cached=2]]"}
    first = http.post("/v1/responses", json=body).json()
    assert first["usage"] == expected_response_usage(body) and first["status"] == "completed"
    assert len(first["output"][-1]["content"][0]["text"].split()) == 4
    assert http.get(f"/v1/responses/{first['id']}").json()["id"] == first["id"]
    assert http.get(f"/v1/responses/{first['id']}/input_items").json()["data"][0]["content"] == body["input"]
    follow = {"model": "gpt-x", "input": "more [[len=2]]", "previous_response_id": first["id"]}
    previous = first["usage"]["input_tokens"] + first["usage"]["output_tokens"]
    assert http.post("/v1/responses", json=follow).json()["usage"] == expected_response_usage(
        follow, previous_tokens=previous
    )
    assert http.delete(f"/v1/responses/{first['id']}").json()["deleted"] is True
    assert http.get(f"/v1/responses/{first['id']}").status_code == 404
    missing = http.post("/v1/responses", json=follow)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "previous_response_id"


def test_a_stream_has_event_lines_sequence_numbers_and_no_done(http: httpx.Client) -> None:
    body = {"model": "gpt-x", "input": "go [[len=3]]", "stream": True}
    got = events(http.post("/v1/responses", json=body).text)
    kinds = [k for k, _ in got]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3 and "[DONE]" not in str(got)
    assert [d["sequence_number"] for _, d in got] == list(range(len(got)))
    assert all(d["type"] == k for k, d in got)
    assert got[-1][1]["response"]["usage"] == expected_response_usage(body)


def test_tool_calls_and_their_usage(http: httpx.Client) -> None:
    tools = [{"type": "web_search"}, {"type": "image_generation", "quality": "high"}]
    body = {"model": "gpt-x", "input": "x [[web_search=2]] [[image_gen=1]] [[len=1]]", "tools": tools}
    answer = http.post("/v1/responses", json=body).json()
    assert [o["type"] for o in answer["output"]] == [
        "web_search_call",
        "web_search_call",
        "image_generation_call",
        "message",
    ]
    assert answer["tool_usage"]["web_search"] == {"num_requests": 2}
    assert answer["tool_usage"]["image_gen"]["output_tokens"] == 4160


def test_faults_error_no_usage_and_cut(http: httpx.Client, server: MockServer) -> None:
    failed = http.post("/v1/responses", json={"model": "m", "input": "x [[fault:http503]]"})
    assert failed.status_code == 503
    bare = http.post("/v1/responses", json={"model": "m", "input": "x [[fault:no_usage]]"}).json()
    assert bare.get("usage") is None  # left out, as the OpenAPI description allows (never a null)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/responses", json={"model": "m", "input": "x [[len=10]] [[fault:cut_after=3]]", "stream": True})
    stats = server.stats()
    assert stats["streams_cut"] >= 1
