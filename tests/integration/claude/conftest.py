"""Helpers for the Claude tests: the official ``anthropic`` SDK against the local stack, and the exact
charge of a Claude usage object under the test prices (tests/data/test-prices.json, micro-USD per token:
input 1, 5-minute write 1.25, 1-hour write 2, cache read 0.1, output 4; web search 10,000 per call)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from tests.support.stack import LocalStack


def claude_client(stack: LocalStack, key: str, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 60)
    return anthropic.Anthropic(base_url=stack.url, api_key=key, **kwargs)


@pytest.fixture
def sdk_factory(stack: LocalStack) -> Iterator[Any]:
    made: list[anthropic.Anthropic] = []

    def make(key: str, **kwargs: Any) -> anthropic.Anthropic:
        client = claude_client(stack, key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def claude_charge(usage: dict[str, Any], multiplier: int = 1) -> int:
    """The exact charge of a Claude usage object, rounded up once (the engine's rule)."""
    split = usage.get("cache_creation") or {}
    w1h = int(split.get("ephemeral_1h_input_tokens") or 0)
    w5m = int(usage.get("cache_creation_input_tokens") or 0) - w1h
    searches = int((usage.get("server_tool_use") or {}).get("web_search_requests") or 0)
    total = (
        Decimal(int(usage.get("input_tokens") or 0))
        + Decimal("1.25") * w5m
        + Decimal(2) * w1h
        + Decimal("0.1") * int(usage.get("cache_read_input_tokens") or 0)
        + Decimal(4) * int(usage.get("output_tokens") or 0)
    ) * multiplier + Decimal(10_000) * searches
    return math.ceil(total)
