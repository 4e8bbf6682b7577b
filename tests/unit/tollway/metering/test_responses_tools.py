"""The Responses image tool's price rules on their own: the per-call worst case from the price file's
tables, and what an answer's image calls are billed (their own report, else the worst case per call)."""

from __future__ import annotations

from typing import Any

import pytest
from tollway.metering.responses_tools import (
    PARTIAL_IMAGE_TOKENS,
    image_call_bound,
    image_tables,
    image_tool_usage,
    times,
    tool_calls_of,
)
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage


def price(**fields: Any) -> ModelPrice:
    return ModelPrice.model_validate({"tokens": {"input": "5", "image_input": "10", "image_output": "40"}, **fields})


def test_the_tables_hold_worst_cases_and_published_sizes() -> None:
    both = price(
        image_output_tokens_worst_case={"low": 300, "high": 6000},
        image_output_tokens={"1024x1024/high": 4160, "1024x1024/low": 272},
    )
    assert sorted(image_tables(both)) == [272, 300, 4160, 6000]
    assert image_tables(price()) == []


def test_one_call_at_its_worst_takes_the_largest_image_and_the_turn_as_image_input() -> None:
    p = price(image_output_tokens={"1024x1024/high": 4160, "1024x1024/low": 272})
    out = 4160 + 2 * PARTIAL_IMAGE_TOKENS
    assert image_call_bound(p, 900, 2) == Usage(
        input_tokens=900, image_input_tokens=900, output_tokens=out, image_output_tokens=out
    )
    cheap_images = ModelPrice.model_validate({"tokens": {"input": "5", "image_input": "5"}})
    assert image_call_bound(cheap_images, 900, 0) == Usage(input_tokens=900)  # image input no dearer: text


WORST = Usage(input_tokens=100, image_input_tokens=100, output_tokens=4000, image_output_tokens=4000)


def test_a_reported_image_usage_is_billed_as_reported() -> None:
    report = {
        "input_tokens": 50,
        "input_tokens_details": {"image_tokens": 10},
        "output_tokens": 1056,
        "output_tokens_details": {"image_tokens": 1000},
        "total_tokens": 1106,
    }
    answer = {"output": [{"type": "image_generation_call"}], "tool_usage": {"image_gen": report}}
    expected = Usage(input_tokens=50, image_input_tokens=10, output_tokens=1056, image_output_tokens=1000)
    assert image_tool_usage(answer, WORST, 1) == expected


@pytest.mark.parametrize(
    ("answer", "images", "expected"),
    [
        ({"output": [{"type": "image_generation_call"}] * 2}, 0, times(WORST, 2)),  # calls counted in the answer
        (None, 3, times(WORST, 3)),  # a stream that ended without its final answer
        ({"output": []}, 0, None),
        (None, 0, None),
    ],
)
def test_without_a_report_each_call_costs_the_worst_case(
    answer: dict[str, Any] | None, images: int, expected: Usage | None
) -> None:
    assert image_tool_usage(answer, WORST, images) == expected


def test_code_interpreter_calls_count_containers_and_web_search_its_own_count() -> None:
    answer = {
        "output": [
            {"type": "code_interpreter_call", "container_id": "c1"},
            {"type": "code_interpreter_call", "container_id": "c1"},
            {"type": "code_interpreter_call"},
            {"type": "web_search_call"},
            "odd",
        ],
        "tool_usage": {"web_search": {"num_requests": 4}},
    }
    assert tool_calls_of(answer) == {"code_interpreter": 2, "web_search": 4}
    assert times(WORST, 2).image_output_tokens == 8000 and times(WORST, 0) == Usage()
