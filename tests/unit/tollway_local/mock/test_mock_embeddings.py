"""The mock's embeddings refuse more dimensions than a real model has (as OpenAI does), instead of
computing a vector of any length the spec-driven fuzzer asks for (a billion dimensions hung it)."""

from __future__ import annotations

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.endpoints.embeddings import MAX_DIMENSIONS


@pytest.mark.parametrize(
    ("dimensions", "status"), [(8, 200), (MAX_DIMENSIONS, 200), (MAX_DIMENSIONS + 1, 400), (10**9, 400)]
)
def test_dimensions_are_bounded(dimensions: int, status: int) -> None:
    with MockServer(MockConfig.fast()) as mock:
        answer = httpx.post(
            f"{mock.base_url}/embeddings",
            json={"model": "m", "input": "a b", "dimensions": dimensions},
            headers={"authorization": "Bearer k"},
            timeout=30,
        )
    assert answer.status_code == status
    if status == 200:
        assert len(answer.json()["data"][0]["embedding"]) == dimensions
