"""Embeddings usage: input tokens only, an odd usage shape counted as none."""

from __future__ import annotations

from tollway.metering.embeddings import usage_from_embeddings
from tollway.pricing.usage import Usage


def test_the_prompt_tokens_are_the_usage() -> None:
    assert usage_from_embeddings({"usage": {"prompt_tokens": 12, "total_tokens": 12}}) == Usage(input_tokens=12)
    assert usage_from_embeddings({"usage": {"prompt_tokens": "12"}}) == Usage()
    assert usage_from_embeddings({"usage": [12]}) is None
    assert usage_from_embeddings({"data": []}) is None
