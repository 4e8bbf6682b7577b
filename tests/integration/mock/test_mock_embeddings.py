"""The mock's embeddings and moderations over real HTTP: usage, float and base64 vectors, flags, and
the faults (an error mode, no_usage)."""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.endpoints.embeddings import vector_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with MockServer(MockConfig.fast()) as mock, httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        yield client


def test_embeddings_float_and_base64(http: httpx.Client) -> None:
    floats = http.post("/v1/embeddings", json={"model": "e", "input": ["a b", "c"], "dimensions": 4}).json()
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert floats["data"][0]["embedding"] == vector_for("a b", 4)
    encoded = http.post("/v1/embeddings", json={"model": "e", "input": [[1, 2]], "encoding_format": "base64"}).json()
    assert list(struct.unpack("<16f", base64.b64decode(encoded["data"][0]["embedding"]))) == pytest.approx(
        vector_for([1, 2], 16)
    )
    assert encoded["usage"]["prompt_tokens"] == 2


def test_moderation_flags_and_carries_no_usage(http: httpx.Client) -> None:
    answer = http.post("/v1/moderations", json={"input": ["ok", "bad [[flag]]"]}).json()
    assert [r["flagged"] for r in answer["results"]] == [False, True] and "usage" not in answer
    assert answer["model"] == "omni-moderation-latest"


def test_faults(http: httpx.Client) -> None:
    assert http.post("/v1/embeddings", json={"model": "e", "input": "[[fault:http500]]"}).status_code == 500
    assert "usage" not in http.post("/v1/embeddings", json={"model": "e", "input": "x [[fault:no_usage]]"}).json()
    assert http.post("/v1/moderations", json={"input": "[[fault:http400]]"}).status_code == 400
