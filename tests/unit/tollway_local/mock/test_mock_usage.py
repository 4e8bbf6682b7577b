"""The mock's usage formula, computed by the pure functions the relay's tests use as their oracle."""

from __future__ import annotations

from typing import Any

import pytest
from tollway_local.mock.errors import MockHTTPError
from tollway_local.mock.usage import (
    count_prompt_tokens,
    expected_usage,
    parse_markers,
    plan_chat,
)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages), **fields}


def test_prompt_tokens_count_words_plus_three_per_message_plus_three() -> None:
    messages = [{"role": "system", "content": "be brief"}, user("hello   there\nworld")]
    # system: 2 words + 3, user: 3 words + 3, request: + 3
    assert count_prompt_tokens(messages) == 14


def test_prompt_tokens_count_text_parts_of_list_content_and_skip_other_parts() -> None:
    content = [
        {"type": "text", "text": "one two"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "three"},
    ]
    assert count_prompt_tokens([user(content)]) == 3 + 3 + 3


def test_prompt_tokens_treat_missing_or_null_content_as_zero_words() -> None:
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": []}, {"role": "user"}]
    assert count_prompt_tokens(messages) == 3 + 3 + 3


@pytest.mark.parametrize(
    ("request_body", "prompt", "completion", "extra"),
    [
        # default length 24; "hi" = 1 word
        (body(user("hi")), 7, 24, {}),
        (body(user("hi [[len=5]]")), 8, 5, {}),
        # max_tokens caps [[len]]; max_completion_tokens wins over max_tokens
        (body(user("hi [[len=50]]"), max_tokens=10), 8, 10, {}),
        (body(user("hi [[len=50]]"), max_tokens=10, max_completion_tokens=4), 8, 4, {}),
        (body(user("hi [[len=3]]"), n=3), 8, 9, {}),
        (body(user("a b c [[len=2]] [[cached=5]]")), 11, 2, {"cached": 5}),
        (body(user("[[len=2]] [[cached=999]]")), 8, 2, {"cached": 8}),
        (body(user("[[len=1]] [[cached=3]] [[cache_write=4]]")), 9, 1, {"cached": 3, "cache_write": 4}),
        (body(user("[[len=1]] [[cached=3]] [[cache_write=100]]")), 9, 1, {"cached": 3, "cache_write": 6}),
        (body(user("[[len=2]] [[reasoning=7]]")), 8, 9, {"reasoning": 7}),
        (body(user("[[len=2]] [[prompt=300000]]")), 300000, 2, {}),
    ],
)
def test_expected_usage_for_bodies(
    request_body: dict[str, Any], prompt: int, completion: int, extra: dict[str, int]
) -> None:
    usage = expected_usage(request_body)
    assert usage["prompt_tokens"] == prompt
    assert usage["completion_tokens"] == completion
    assert usage["total_tokens"] == prompt + completion
    assert usage["prompt_tokens_details"]["cached_tokens"] == extra.get("cached", 0)
    assert usage["prompt_tokens_details"].get("cache_write_tokens") == extra.get("cache_write")
    assert usage["completion_tokens_details"]["reasoning_tokens"] == extra.get("reasoning", 0)


def test_cache_write_field_is_absent_without_its_marker() -> None:
    assert "cache_write_tokens" not in expected_usage(body(user("hi")))["prompt_tokens_details"]


def test_reasoning_counts_against_the_cap_before_visible_tokens() -> None:
    plan = plan_chat(body(user("[[len=10]] [[reasoning=8]]"), max_completion_tokens=12))
    assert (plan.reasoning_per_choice, plan.visible_per_choice, plan.finish_reason) == (8, 4, "length")
    assert plan.completion_tokens == 12


def test_finish_reason_is_stop_when_the_cap_is_not_reached() -> None:
    assert plan_chat(body(user("[[len=10]]"), max_tokens=10)).finish_reason == "stop"
    assert plan_chat(body(user("[[len=10]]"), max_tokens=9)).finish_reason == "length"
    assert plan_chat(body(user("[[len=10]]"))).finish_reason == "stop"


def test_markers_are_read_from_the_last_user_message_only() -> None:
    messages = [user("[[len=40]] [[cached=5]]"), {"role": "assistant", "content": "ok"}, user("again [[len=2]]")]
    usage = expected_usage(body(*messages))
    assert usage["completion_tokens"] == 2
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


def test_reasoning_and_visible_tokens_are_per_choice() -> None:
    usage = expected_usage(body(user("[[len=3]] [[reasoning=2]]"), n=2))
    assert usage["completion_tokens"] == 10
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 4


def test_default_completion_tokens_is_configurable() -> None:
    assert expected_usage(body(user("hi")), default_completion_tokens=3)["completion_tokens"] == 3


def test_first_marker_of_a_name_wins() -> None:
    assert parse_markers("[[len=3]] [[len=9]]").len == 3
    assert parse_markers("no markers").len is None


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"model": "m"}, "messages"),
        (body(), "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages"),
        (body(user("hi"), n=0), "n"),
        (body(user("hi"), n=1000), "n"),
        (body(user("hi"), max_tokens=-1), "max_tokens"),
        (body(user("hi"), max_completion_tokens="5"), "max_completion_tokens"),
        (body(user("hi"), max_tokens=True), "max_tokens"),
    ],
)
def test_invalid_bodies_raise_a_400_naming_the_param(request_body: dict[str, Any], param: str) -> None:
    with pytest.raises(MockHTTPError) as caught:
        plan_chat(request_body)
    assert caught.value.status == 400
    assert caught.value.body["error"]["param"] == param


FUNCTION = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def test_tool_calls_marker_needs_function_tools_and_counts_ten_tokens_each() -> None:
    assert plan_chat(body(user("x [[len=2]] [[tool_calls=2]]"))).tool_calls_per_choice == 0
    plan = plan_chat(body(user("x [[len=2]] [[tool_calls=2]]"), tools=[FUNCTION]))
    assert (plan.tool_calls_per_choice, plan.completion_tokens, plan.finish_reason) == (2, 22, "tool_calls")
    capped = plan_chat(body(user("x [[len=2]] [[tool_calls=2]]"), tools=[FUNCTION], max_tokens=15))
    assert (capped.tool_calls_per_choice, capped.completion_tokens, capped.finish_reason) == (1, 12, "length")
