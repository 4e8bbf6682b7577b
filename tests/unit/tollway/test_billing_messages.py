"""The 402 a customer reads fits their request: a request without an output limit (an image, a task) is
told to add credit, never to lower max_tokens; one with an output limit learns why a small balance
cannot start it (the minimal answer a reasoning model needs)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.auth import KeyContext
from tollway.billing import Biller
from tollway.errors import InsufficientQuota
from tollway.ids import request_id
from tollway.pricing.engine import OutputBudget

from tests.support.factories import Stores, now_ms
from tests.unit.tollway.test_billing_guards import context_with

PER_TOKEN = OutputBudget(fixed_usd=Decimal(0), per_output_token_usd=Decimal("0.000001"))


def refusal(stores: Stores, context: KeyContext, budget: OutputBudget, limit: int | None, minimal: int) -> str:
    with pytest.raises(InsufficientQuota) as caught:
        Biller(stores.ledger).reserve(
            context, hold_id=request_id(), budget=budget, output_limit=limit, min_output=minimal, now_ms=now_ms()
        )
    assert caught.value.status == 402
    return caught.value.message


def test_a_request_without_an_output_limit_is_told_to_add_credit(stores: Stores) -> None:
    context = context_with(stores)  # the account holds $1.00
    per_image = OutputBudget(fixed_usd=Decimal("2.50"), per_output_token_usd=Decimal(0))
    message = refusal(stores, context, per_image, None, 0)
    assert "needs up to $2.50" in message and message.endswith("Add credit.")
    assert "max_tokens" not in message


def test_a_reasoning_minimum_that_does_not_fit_is_explained(stores: Stores) -> None:
    context = context_with(stores)
    # $1.00 affords 999,999 tokens of input bound + output at these prices; ask for a minimum above it.
    dear = OutputBudget(fixed_usd=Decimal("0.999"), per_output_token_usd=Decimal("0.000002"))
    message = refusal(stores, context, dear, 4096, 1024)
    assert "at least 1,024 output tokens" in message and "reasoning" in message
    assert "lower" not in message  # the output was already clamped to what the balance affords
