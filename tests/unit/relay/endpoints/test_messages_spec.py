"""The relay glue of Claude's Messages API: one format per request, the input bound, and count_tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from relay.endpoints.base import RequestBody
from relay.endpoints.chat import ChatCompletions
from relay.endpoints.messages import ChatOrClaude, CountTokens, Messages, protocol_headers
from tollway.config.catalog import Catalog
from tollway.config.model import Channel
from tollway.errors import InvalidRequest
from tollway.pricing.schema import ModelPrice

PRICE = ModelPrice.model_validate(
    {
        "context_window": 10_000,
        "tokens": {"input": "1", "cache_write": "1.25", "cache_write_1h": "2", "output": "4"},
        "tools": {"web_search": "0.01"},
    }
)


def catalog(*channels: tuple[str, str]) -> Catalog:
    return Catalog(
        prices={"m": PRICE},
        groups={},
        channels=tuple(
            Channel(channel_id=cid, name=cid, type=kind, base_url="http://x", models=("m",)) for cid, kind in channels
        ),
    )


def body(data: dict[str, Any]) -> RequestBody:
    raw = orjson.dumps(data)
    return RequestBody(raw=raw, content_type="application/json", json=data)


BASIC = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def test_native_when_an_anthropic_channel_serves_the_model() -> None:
    spec = Messages(catalog(("ant", "anthropic"), ("oai", "openai")), {"anthropic-beta": "x"})
    prepared = spec.prepare(body(BASIC))
    assert prepared.channel_ids == ("ant",) and prepared.format == "native" and spec.upstream_path == "/v1/messages"
    sent = spec.upstream_body(prepared, 30, "upstream-m")
    assert orjson.loads(sent.content)["max_tokens"] == 30 and orjson.loads(sent.content)["model"] == "upstream-m"
    assert sent.headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "x"}


def test_converted_when_only_openai_format_channels_serve_it() -> None:
    spec = Messages(catalog(("oai", "mock")), {})
    prepared = spec.prepare(body({**BASIC, "stream": True}))
    assert (
        prepared.format == "converted"
        and spec.upstream_path == "/chat/completions"
        and spec.priced_as == "chat.completions"
    )
    sent = orjson.loads(spec.upstream_body(prepared, 40, "gpt").content)
    assert sent["max_tokens"] == 40 and sent["stream_options"] == {"include_usage": True}
    with pytest.raises(InvalidRequest):  # refused before any money moves
        spec.prepare(body({**BASIC, "top_k": 3}))


@pytest.mark.parametrize(
    "bad", [{"max_tokens": None}, {"max_tokens": 0}, {"messages": []}, {"model": ""}, {"stream": "yes"}]
)
def test_invalid_requests(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        Messages(catalog(("ant", "anthropic")), {}).prepare(body({**BASIC, **bad}))


def test_input_bound_for_url_images_documents_and_server_tools() -> None:
    spec = Messages(catalog(("ant", "anthropic")), {})
    image = {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}
    with_image = spec.prepare(body({**BASIC, "messages": [{"role": "user", "content": [image]}]}))
    assert (
        with_image.input_bound
        == len(orjson.dumps({**BASIC, "messages": [{"role": "user", "content": [image]}]})) + 5000
    )
    search = {**BASIC, "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]}
    prepared = spec.prepare(body(search))
    budget = spec.budget(prepared, PRICE, Decimal(1))
    # Search results are input: the whole window at the dearest class, and 3 searches at $0.01.
    assert budget.fixed_usd == Decimal(10_000) * 2 / 1_000_000 + Decimal("0.03")


def test_count_tokens_is_estimated_without_an_anthropic_channel_and_free() -> None:
    spec = CountTokens(catalog(("oai", "openai")), {})
    prepared = spec.prepare(body({"model": "m", "messages": [{"role": "user", "content": "a " * 40}]}))
    answer = spec.local_answer(prepared)
    assert answer is not None and orjson.loads(answer)["input_tokens"] > 0
    assert spec.cost(prepared, PRICE, spec.usage_of({}) or spec.estimate(prepared, 0), Decimal(1)) == 0
    forwarded = CountTokens(catalog(("ant", "anthropic")), {})
    prepared = forwarded.prepare(body({**BASIC, "stream": True}))
    assert forwarded.local_answer(prepared) is None
    assert "max_tokens" not in orjson.loads(forwarded.upstream_body(prepared, None, "m").content)


def test_chat_goes_to_openai_channels_first_and_to_claude_otherwise() -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
    mixed = ChatOrClaude(ChatCompletions(), catalog(("ant", "anthropic"), ("oai", "openai")), {})
    assert mixed.prepare(body(chat)).format is None and mixed.upstream_path == "/chat/completions"
    claude = ChatOrClaude(ChatCompletions(), catalog(("ant", "anthropic")), {})
    prepared = claude.prepare(body(chat))
    assert prepared.format == "converted" and prepared.channel_ids == ("ant",) and prepared.affinity
    sent = orjson.loads(claude.upstream_body(prepared, 20, "claude-up").content)
    assert sent["model"] == "claude-up" and sent["max_tokens"] == 20 and sent["messages"][0]["role"] == "user"


def test_protocol_headers_never_carry_credentials() -> None:
    got = protocol_headers({"authorization": "Bearer sk", "x-api-key": "sk", "anthropic-version": "v"})
    assert got == {"anthropic-version": "v"}


def test_a_clamped_limit_keeps_the_thinking_budget_below_it() -> None:
    spec = Messages(catalog(("ant", "anthropic")), {})
    prepared = spec.prepare(body({**BASIC, "max_tokens": 8000, "thinking": {"type": "enabled", "budget_tokens": 4000}}))
    clamped = orjson.loads(spec.upstream_body(prepared, 3000, "m").content)
    assert clamped["max_tokens"] == 3000 and clamped["thinking"] == {"type": "enabled", "budget_tokens": 2999}
    roomy = orjson.loads(spec.upstream_body(prepared, 8000, "m").content)
    assert roomy["thinking"]["budget_tokens"] == 4000


def test_count_tokens_follows_the_conversation_like_its_turns() -> None:
    """Claude Code counts tokens between turns: the count goes to the conversation's channel as well."""
    headers = {"X-Claude-Code-Session-Id": "s-1"}
    counted = CountTokens(catalog(("ant", "anthropic")), headers).prepare(body(BASIC))
    turn = Messages(catalog(("ant", "anthropic")), headers).prepare(body(BASIC))
    assert counted.affinity == turn.affinity == "session:s-1"
    no_session = CountTokens(catalog(("ant", "anthropic")), {}).prepare(body(BASIC))
    assert no_session.affinity == Messages(catalog(("ant", "anthropic")), {}).prepare(body(BASIC)).affinity
