"""Cache-write tokens are counted *inside* ``input_tokens``/``prompt_tokens`` (docs/openai-endpoints.md,
"Cache writes"), so the uncached part is input − cached − cache_write and each part is billed once.

The evidence, from the official OpenAPI spec (reference copy, openai-openapi.yaml) and the SDK types:

- ``UsageCompletionsResult.input_tokens``: "The aggregated number of input tokens used, including cached
  and cache-write tokens"; ``input_uncached_tokens``: "… excluding cache-write tokens"; its examples
  add up: 1000 = 400 cached + 100 cache-write + 500 uncached, and 5000 = 1800 + 200 + 3000.
- ``ResponseUsage.input_tokens_details`` ("A detailed breakdown of the input tokens") holds both
  ``cached_tokens`` and ``cache_write_tokens`` (both required); the chat ``prompt_tokens_details``
  ("Breakdown of tokens used in the prompt") holds both too. The openai SDK (3.51) types agree and add
  ``cache_write_tokens_details`` (30-minute / 12-hour) under the same breakdown.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from openai.types.completion_usage import PromptTokensDetails
from openai.types.responses.response_usage import InputTokensDetails, ResponseUsage
from tollway.metering.chat import usage_from_chat
from tollway.metering.responses_tools import usage_from_response
from tollway.pricing.engine import cost_of
from tollway.pricing.schema import ModelPrice, TokenPrices

PRICE = ModelPrice(
    tokens=TokenPrices(
        input=Decimal("1.00"), cached_input=Decimal("0.10"), cache_write=Decimal("1.25"), output=Decimal("4.00")
    )
)


@pytest.mark.parametrize(("total", "cached", "write", "uncached"), [(1000, 400, 100, 500), (5000, 1800, 200, 3000)])
def test_the_specs_examples_bill_each_input_token_once(total: int, cached: int, write: int, uncached: int) -> None:
    responses = usage_from_response(
        {
            "usage": {
                "input_tokens": total,
                "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write},
                "output_tokens": 0,
            }
        }
    )
    chat = usage_from_chat(
        {"prompt_tokens": total, "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": write}}
    )
    assert responses == chat and responses is not None
    cost = cost_of(PRICE, responses)
    assert cost.lines["input"] == Decimal(uncached) / 1_000_000  # the uncached part only
    assert cost.lines["cached_input"] == Decimal(cached) * Decimal("0.10") / 1_000_000
    assert cost.lines["cache_write"] == Decimal(write) * Decimal("1.25") / 1_000_000


def test_the_sdk_types_put_cache_writes_in_the_input_breakdown() -> None:
    assert "cache_write_tokens" in InputTokensDetails.model_fields
    assert "cached_tokens" in InputTokensDetails.model_fields
    assert "input_tokens_details" in ResponseUsage.model_fields
    assert "cache_write_tokens" in PromptTokensDetails.model_fields
    details = InputTokensDetails(cached_tokens=400, cache_write_tokens=100)
    usage = ResponseUsage(
        input_tokens=1000,
        input_tokens_details=details,
        output_tokens=0,
        output_tokens_details={"reasoning_tokens": 0},  # type: ignore[arg-type]
        total_tokens=1000,
    )
    assert usage.input_tokens - details.cached_tokens - details.cache_write_tokens == 500
