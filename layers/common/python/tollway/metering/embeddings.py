"""Embeddings: the usage of an answer (input tokens only; embeddings produce no output tokens)."""

from __future__ import annotations

from typing import Any

from tollway.metering.fields import count
from tollway.pricing.usage import Usage

__all__ = ["usage_from_embeddings"]


def usage_from_embeddings(response: dict[str, Any]) -> Usage | None:
    """An ``embeddings`` answer's usage (``prompt_tokens``), None without a usage object."""
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(input_tokens=count(usage.get("prompt_tokens")))
