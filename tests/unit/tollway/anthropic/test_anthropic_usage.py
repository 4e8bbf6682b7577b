"""Claude ⇄ tollway ⇄ OpenAI usage: each convention converted once, no double counting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from tollway.anthropic.usage import (
    claude_usage_of,
    claude_usage_to_openai,
    merge_stream_usage,
    openai_chat_usage_of,
    openai_usage_to_claude,
)


def test_additive_claude_counts_become_inclusive_with_the_1h_part_apart() -> None:
    usage = claude_usage_of(
        {
            "input_tokens": 200,
            "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 400,
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
            "output_tokens": 7,
            "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
            "service_tier": "standard",
        }
    )
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (900, 400, 300)
    assert usage.cache_write_1h_tokens == 100 and usage.output_tokens == 7
    assert usage.tool_calls == {"web_search": 2, "web_fetch": 1} and usage.service_tier == "standard"


def test_writes_without_a_ttl_split_are_5_minute_writes_and_a_split_beats_a_short_total() -> None:
    assert claude_usage_of({"input_tokens": 1, "cache_creation_input_tokens": 50}).cache_write_1h_tokens == 0
    split = claude_usage_of(
        {"input_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 6}}
    )
    assert split.cache_write_tokens == 11 and split.input_tokens == 12


def test_stream_usage_takes_the_last_delta_value_per_field_else_the_start() -> None:
    start = {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}
    merged = merge_stream_usage(start, {"output_tokens": 30, "input_tokens": None})
    assert merged == {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 30}


def test_both_directions_keep_cached_tokens_out_of_uncached_input() -> None:
    openai = claude_usage_to_openai(
        {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5, "output_tokens": 3}
    )
    assert openai["prompt_tokens"] == 105 and openai["prompt_tokens_details"] == {
        "cached_tokens": 90,
        "cache_write_tokens": 5,
    }
    claude = openai_usage_to_claude(openai)
    assert claude == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 90,
        "output_tokens": 3,
    }
    # Counts that do not add up never go negative.
    assert (
        openai_usage_to_claude({"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 9}})["input_tokens"] == 0
    )


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7))
def test_claude_to_openai_and_back_is_exact(uncached: int, reads: int, writes: int, output: int) -> None:
    claude = {
        "input_tokens": uncached,
        "cache_read_input_tokens": reads,
        "cache_creation_input_tokens": writes,
        "output_tokens": output,
    }
    openai = claude_usage_to_openai(claude)
    assert openai_usage_to_claude(openai) == claude
    # The same request billed from either side has the same token classes.
    assert openai_chat_usage_of(openai).input_tokens == claude_usage_of(claude).input_tokens
    assert openai_chat_usage_of(openai).cached_tokens == claude_usage_of(claude).cached_tokens
