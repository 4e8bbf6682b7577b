"""The README's first command, as a new user meets it: the stack starts, prints one key, serves it."""

from __future__ import annotations

import re

import pytest

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_banner_prints_url_and_exactly_one_key(stack: LocalStack) -> None:
    assert stack.url.startswith("http://127.0.0.1:")
    assert len(re.findall(r"sk-[A-Za-z0-9]+", stack.banner)) == 1
    assert "balance $" in stack.banner


def test_demo_key_chats_with_the_mock_and_lists_models(stack: LocalStack) -> None:
    client = stack.client(stack.demo_key)
    models = [m.id for m in client.models.list()]
    assert "gpt-5.4-mini" in models
    reply = client.chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=5
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens == 5
