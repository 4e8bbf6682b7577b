"""The Anthropic side of the mock's formula: input counts, the cache split, the answer plan."""

from __future__ import annotations

from typing import Any

import pytest
from tollway_local.mock.errors import MockHTTPError
from tollway_local.mock.message_usage import (
    TOOL_USE_TOKENS,
    breakpoints,
    cache_split,
    count_input_tokens,
    expected_message_usage,
    plan_message,
    thinking_signature,
)
from tollway_local.mock.prompt_cache import PromptCache

TOOL = {
    "name": "get_weather",
    "description": "the weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
}


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-5-5", "max_tokens": 100, "messages": list(messages), **fields}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_input_counts_tools_system_messages_in_order() -> None:
    request = body(user("one two three"), system="be brief", tools=[TOOL])
    # tool: 3 words + 10; system: 2 + 3; message: 3 + 3; request: 3
    assert count_input_tokens(request) == 13 + 5 + 6 + 3


def test_input_counts_blocks_by_kind() -> None:
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "a b", "signature": "s"},
            {"type": "text", "text": "c"},
            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
        ],
    }
    result = user([{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "d e f"}]}])
    image = user(
        [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}, {"type": "text", "text": "g"}]
    )
    request = body(user("q"), assistant, result, image)
    assert count_input_tokens(request) == (3 + 1) + (3 + 2 + 1 + TOOL_USE_TOKENS) + (3 + 3) + (3 + 1) + 3


def test_prompt_marker_sets_the_total() -> None:
    assert count_input_tokens(body(user("hi [[prompt=150000]]"))) == 150_000


def test_without_cache_control_nothing_is_cached() -> None:
    split = cache_split(body(user("hello there")))
    assert (split.cache_read, split.write_5m, split.write_1h) == (0, 0, 0)
    assert split.input_tokens == 8


def cached_request(last: str = "question") -> dict[str, Any]:
    system = [
        {"type": "text", "text": "long rules " * 10, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "more rules " * 5, "cache_control": {"type": "ephemeral"}},
    ]
    return body(user(last), system=system)


def test_cold_cache_writes_each_segment_at_its_breakpoints_ttl() -> None:
    request = cached_request()
    points = breakpoints(request)
    assert [p.tokens for p in points] == [3 + 20, 3 + 20 + 10]
    split = cache_split(request)
    assert (split.write_1h, split.write_5m, split.cache_read) == (23, 10, 0)
    assert split.input_tokens == count_input_tokens(request) - 33


def test_warm_cache_reads_the_longest_cached_prefix_and_writes_the_rest() -> None:
    request = cached_request()
    first = breakpoints(request)[0].prefix_hash
    split = cache_split(request, {first})
    assert (split.cache_read, split.write_1h, split.write_5m) == (23, 0, 10)
    every = {p.prefix_hash for p in breakpoints(request)}
    assert cache_split(request, every).cache_read == 33


def test_prefix_hash_ignores_cache_control_but_not_the_model_or_text() -> None:
    request = cached_request()
    same_text_other_ttl = cached_request()
    same_text_other_ttl["system"][0]["cache_control"] = {"type": "ephemeral"}
    other_model = cached_request() | {"model": "claude-opus-5-5"}
    hash_of = lambda r: breakpoints(r)[0].prefix_hash  # noqa: E731
    assert hash_of(request) == hash_of(same_text_other_ttl)
    assert hash_of(request) != hash_of(other_model)
    assert breakpoints(cached_request("a"))[1].prefix_hash == breakpoints(cached_request("b"))[1].prefix_hash


def test_top_level_cache_control_marks_the_last_block() -> None:
    request = body(user("a b c"), cache_control={"type": "ephemeral", "ttl": "1h"})
    assert [p.tokens for p in breakpoints(request)] == [3 + 3]
    assert cache_split(request).write_1h == 6


def test_cache_markers_replace_the_computed_split() -> None:
    request = body(user("x [[prompt=1000]] [[cache_read=600]] [[cache_write_5m=100]] [[cache_write_1h=50]]"))
    split = cache_split(request)
    assert (split.input_tokens, split.cache_read, split.write_5m, split.write_1h) == (250, 600, 100, 50)


def test_plan_text_only() -> None:
    plan = plan_message(body(user("hi [[len=5]]")))
    assert (plan.text_tokens, plan.output_tokens, plan.stop_reason, plan.tool_calls) == (5, 5, "end_turn", ())


def test_plan_thinking_text_and_tool_calls() -> None:
    request = body(user("go [[len=2]] [[reasoning=3]] [[tool_use=2]]"), tools=[TOOL], thinking={"type": "adaptive"})
    plan = plan_message(request, id_seed="r1")
    assert plan.output_tokens == 3 + 2 + 2 * TOOL_USE_TOKENS
    assert plan.stop_reason == "tool_use"
    assert [c.input for c in plan.tool_calls] == [{"city": "lorem", "days": 1}] * 2
    assert len({c.id for c in plan.tool_calls}) == 2


def test_tool_marker_without_tools_is_plain_text() -> None:
    assert plan_message(body(user("go [[tool_use]]"))).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("marker", "cap", "expected"),
    [
        ("[[len=5]]", 5, (5, "end_turn")),
        ("[[len=5]]", 4, (4, "max_tokens")),
        ("[[len=1]] [[tool_use]]", 5, (1, "max_tokens")),
    ],
)
def test_max_tokens_caps_the_output(marker: str, cap: int, expected: tuple[int, str]) -> None:
    plan = plan_message(body(user(marker), max_tokens=cap, tools=[TOOL]))
    assert (plan.output_tokens, plan.stop_reason) == expected


def test_refusal_and_stop_sequence_markers() -> None:
    assert plan_message(body(user("[[refusal]]"))).stop_reason == "refusal"
    plan = plan_message(body(user("[[stop]]"), stop_sequences=["END"]))
    assert (plan.stop_reason, plan.stop_sequence) == ("stop_sequence", "END")


def test_web_search_marker_reports_server_tool_use() -> None:
    usage = expected_message_usage(body(user("[[web_search=3]]")))
    assert usage["server_tool_use"] == {"web_search_requests": 3, "web_fetch_requests": 0}


def test_expected_usage_shapes_every_field() -> None:
    usage = expected_message_usage(cached_request("q [[len=4]]"), warm=True)
    assert usage == {
        "input_tokens": count_input_tokens(cached_request("q [[len=4]]")) - 33,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 33,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 4,
        "service_tier": "standard",
    }


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"temperature": 1.5}, "temperature"),
        ({"thinking": {"type": "enabled", "budget_tokens": 10}}, "budget_tokens"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role"),
    ],
)
def test_invalid_requests_get_400(fields: dict[str, Any], fragment: str) -> None:
    request = body(user("hi"))
    request.update(fields)
    if request.get("max_tokens") is None:
        del request["max_tokens"]
    with pytest.raises(MockHTTPError) as raised:
        plan_message(request)
    assert raised.value.status == 400
    assert fragment in str(raised.value)


def test_tool_use_without_its_result_is_rejected() -> None:
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}]}
    with pytest.raises(MockHTTPError, match="without `tool_result`"):
        plan_message(body(user("a"), call, user("no result")))
    with pytest.raises(MockHTTPError, match="unexpected `tool_use_id`"):
        plan_message(body(user([{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}])))
    answered = user([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}])
    assert plan_message(body(user("a"), call, answered)).stop_reason == "end_turn"


def test_thinking_signature_is_bound_to_key_and_model() -> None:
    base = thinking_signature("k1", "m", "text")
    assert base == thinking_signature("k1", "m", "text")
    assert base != thinking_signature("k2", "m", "text")
    assert base != thinking_signature("k1", "m2", "text")


def test_prompt_cache_is_per_key_and_expires() -> None:
    cache = PromptCache()
    points = breakpoints(cached_request())
    cache.store("k1", points, now=0.0)
    hashes = [p.prefix_hash for p in points]
    assert cache.cached("k1", hashes, now=10.0) == frozenset(hashes)
    assert cache.cached("k2", hashes, now=10.0) == frozenset()
    # the 5-minute breakpoint expires before the 1-hour one
    assert cache.cached("k1", hashes, now=301.0) == frozenset(hashes[:1])
    assert cache.cached("k1", hashes, now=3601.0) == frozenset()


def test_tool_use_by_name_picks_that_tool() -> None:
    other = {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}
    plan = plan_message(body(user("[[len=0]] [[tool_use:Read]]"), tools=[TOOL, other]))
    assert [(c.name, c.input) for c in plan.tool_calls] == [("Read", {"file_path": "lorem"})]
    assert plan_message(body(user("[[tool_use:Nope]]"), tools=[TOOL])).tool_calls == ()


def test_system_role_messages_need_claude_codes_per_turn_beta() -> None:
    request = body(user("hi"), {"role": "system", "content": "mid-conversation note"})
    with pytest.raises(MockHTTPError, match="role"):
        plan_message(request)
    assert plan_message(request, betas={"per-turn-control-2026-07-01"}).stop_reason == "end_turn"
    assert plan_message(request, betas={"mid-conversation-tool-changes-2026-07-01"}).stop_reason == "end_turn"


def test_a_moved_breakpoint_still_reads_the_previous_turns_prefix() -> None:
    """Claude Code moves its breakpoint to the newest block each turn; the cache looks back up to 20 blocks."""
    hour = {"type": "ephemeral", "ttl": "1h"}
    first = body({"role": "user", "content": [{"type": "text", "text": "one two", "cache_control": hour}]})
    cache = PromptCache()
    cache.store("k", breakpoints(first), now=0.0)
    second = body(
        {"role": "user", "content": [{"type": "text", "text": "one two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}]},
        {"role": "user", "content": [{"type": "text", "text": "four five", "cache_control": hour}]},
    )
    from tollway_local.mock.message_usage import lookup_points

    cached = cache.cached("k", [p.prefix_hash for p in lookup_points(second)], now=1.0)
    split = cache_split(second, cached)
    assert split.cache_read == 3 + 2  # the first turn's message
    assert split.write_1h == (3 + 1) + (3 + 2)  # the new assistant and user turns
    assert split.input_tokens == 3
