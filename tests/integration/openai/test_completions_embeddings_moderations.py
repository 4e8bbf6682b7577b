"""Legacy completions (stream and not, n = 3 billed exactly), embeddings (float and base64; strings and
token arrays) and moderations (free, recorded) through the real stack with the official SDK.
Test prices, micro-USD per token: t-completions input 1, output 4; t-embed input 0.1; t-moderation 0."""

from __future__ import annotations

import base64
import math
import struct
from decimal import Decimal

import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_completions_with_n_3_and_a_stream_are_billed_exactly(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-completions"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    three = client.completions.create(
        model="t-completions", prompt="once upon a time [[len=5]]", n=3, max_tokens=10, logprobs=2
    )
    assert len(three.choices) == 3 and three.usage is not None
    assert three.usage.prompt_tokens == 5 and three.usage.completion_tokens == 15
    assert mock.stats()["requests_log"][-1]["body"]["logprobs"] == 2  # passed through untouched
    chunks = list(
        client.completions.create(
            model="t-completions",
            prompt="stream it [[len=4]]",
            stream=True,
            max_tokens=8,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert len(text.split()) == 4
    plain = list(client.completions.create(model="t-completions", prompt="no usage [[len=2]]", stream=True))
    assert all(c.usage is None for c in plain)  # the usage chunk tollway asked for stays hidden
    records = stack.wait_records(who.account_id, 3)
    by_stream = sorted((r["stream"], r["charge"]) for r in records)
    assert by_stream == sorted([(False, 5 + 15 * 4), (True, 3 + 4 * 4), (True, 3 + 2 * 4)])
    assert stack.audit(who.account_id)["ok"]


def test_chat_with_n_3_is_billed_for_every_choice(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-resp", messages=[{"role": "user", "content": "x [[prompt=50]] [[len=7]]"}], n=3, max_tokens=20
    )
    assert len(reply.choices) == 3
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["tokens"] == {"input": 50, "output": 21}
    assert record["charge"] == 50 + 21 * 4
    assert record["hold"] >= 3 * 20 * 4  # the reservation covered three answers


def test_embeddings_float_base64_and_token_arrays(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-embed"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    floats = client.embeddings.create(model="t-embed", input=["the quick brown fox", "jumps"], dimensions=8)
    assert [len(d.embedding) for d in floats.data] == [8, 8] and floats.usage.prompt_tokens == 5
    raw = client.embeddings.with_raw_response.create(
        model="t-embed", input=[[1, 2, 3], [4, 5]], encoding_format="base64"
    )
    encoded = raw.http_response.json()["data"][0]["embedding"]
    assert len(struct.unpack("<16f", base64.b64decode(encoded))) == 16
    assert raw.parse().usage.prompt_tokens == 5
    records = stack.wait_records(who.account_id, 2)
    assert [r["charge"] for r in records] == [math.ceil(5 * Decimal("0.1"))] * 2
    assert all(r["endpoint"] == "embeddings" and "output" not in r["tokens"] for r in records)


def test_moderation_is_free_but_recorded(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-moderation"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    result = client.moderations.create(model="t-moderation", input=["fine text", "bad [[flag]]"])
    assert [r.flagged for r in result.results] == [False, True]
    default = client.moderations.create(input="no model named")  # OpenAI's default, priced at $0 when shipped
    assert default.results
    records = stack.wait_records(who.account_id, 2)
    assert sorted(r["model"] for r in records) == ["omni-moderation-latest", "t-moderation"]
    assert all(r["charge"] == 0 and r["status"] == "ok" and r["usage_source"] == "estimated" for r in records)
    assert stack.balance(who.account_id) == 1_000_000
