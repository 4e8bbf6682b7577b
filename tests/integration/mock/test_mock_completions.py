"""The mock's legacy completions over real HTTP: exact usage, streams with and without the usage
chunk, and the faults (an error mode, no_usage, cut)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.surface_usage import plan_completion

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with MockServer(MockConfig.fast()) as mock, httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        yield client


def test_completion_usage_and_choices(http: httpx.Client) -> None:
    body = {"model": "m", "prompt": ["a b [[len=3]]", "c [[len=3]]"], "n": 2, "max_tokens": 10}
    answer = http.post("/v1/completions", json=body).json()
    assert answer["object"] == "text_completion" and len(answer["choices"]) == 4
    assert answer["usage"] == plan_completion(body)["usage"]


def test_stream_usage_chunk_only_when_asked(http: httpx.Client) -> None:
    body = {"model": "m", "prompt": "x [[len=3]]", "stream": True}
    plain = [line for line in http.post("/v1/completions", json=body).text.splitlines() if line.startswith("data: ")]
    assert plain[-1] == "data: [DONE]" and all('"usage"' not in line for line in plain)
    asked = {**body, "stream_options": {"include_usage": True}}
    lines = [
        line[6:] for line in http.post("/v1/completions", json=asked).text.splitlines() if line.startswith("data: ")
    ]
    assert json.loads(lines[-2])["usage"] == plan_completion(asked)["usage"]


def test_faults(http: httpx.Client) -> None:
    assert http.post("/v1/completions", json={"model": "m", "prompt": "[[fault:http429]]"}).status_code == 429
    assert "usage" not in http.post("/v1/completions", json={"model": "m", "prompt": "[[fault:no_usage]]"}).json()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/completions", json={"model": "m", "prompt": "x [[len=9]] [[fault:cut_after=2]]", "stream": True})
