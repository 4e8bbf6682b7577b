"""README's 402 paragraph, checked with the shipped prices and the official SDK: a $0.001 balance can
call gpt-4.1-mini (a minimal answer of 16 tokens fits) but not gpt-5.4, a reasoning model whose minimal
answer is 1,024 output tokens; its 402 names the amount, the balance and why, in the terms of a chat
request."""

from __future__ import annotations

import openai
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_a_thousandth_of_a_dollar_calls_gpt_4_1_mini_but_not_gpt_5_4(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["gpt-4.1-mini", "gpt-5.4"], mock.base_url, name="readme 402")
    who = stack.customer(credit_usd="0.001")
    client = stack.client(who.key)
    hello = [{"role": "user", "content": "Hello"}]
    reply = client.chat.completions.create(model="gpt-4.1-mini", messages=hello)
    assert reply.choices[0].message.content
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="gpt-5.4", messages=hello)
    assert refused.value.status_code == 402
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "insufficient_quota"
    message = error["message"]
    assert message.startswith("Insufficient balance: this request needs up to $0.01")  # 1,024 × $15/1M + input
    assert "at least 1,024 output tokens" in message and "reasoning models" in message
    assert "max_tokens" not in message  # the output was already lowered to what the balance affords
    assert stack.audit(who.account_id)["ok"]
