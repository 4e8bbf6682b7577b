"""The mock's usage formulas for Responses, completions, embeddings and audio (docs/mock-upstream.md),
as tables: each row a request and the usage the mock must report for it."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import pytest
from tollway_local.mock.errors import MockHTTPError
from tollway_local.mock.surface_usage import (
    IMAGE_TOKENS,
    MP3_FRAME_SECONDS,
    embedding_tokens,
    expected_response_usage,
    plan_completion,
    plan_response,
    speech_plan,
    transcription_plan,
)


@pytest.mark.parametrize(
    ("body", "previous", "input_tokens", "output", "reasoning", "incomplete"),
    [
        ({"input": "hello world [[len=5]]"}, 0, 3 + 3 + 3, 5, 0, False),  # 3 words + 3, + 3
        ({"input": "a b", "instructions": "be brief"}, 0, (2 + 3) + (2 + 3) + 3, 24, 0, False),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "x y z"}]}]}, 0, 9, 24, 0, False),
        ({"input": "q [[prompt=1000]] [[len=10]] [[reasoning=30]]", "max_output_tokens": 20}, 0, 1000, 20, 20, True),
        ({"input": "q [[len=4]]"}, 50, 2 + 3 + 3 + 50, 4, 0, False),  # + the earlier response's tokens
    ],
)
def test_response_usage(
    body: dict[str, Any], previous: int, input_tokens: int, output: int, reasoning: int, incomplete: bool
) -> None:
    plan = plan_response(body, previous_tokens=previous)
    assert (plan.input_tokens, plan.output_tokens, plan.reasoning_tokens, plan.incomplete) == (
        input_tokens,
        output,
        reasoning,
        incomplete,
    )
    usage = expected_response_usage(body, previous_tokens=previous)
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["total_tokens"] == input_tokens + output


def test_response_cache_markers_sit_inside_the_input() -> None:
    usage = expected_response_usage({"input": "x [[prompt=900]] [[cached=500]] [[cache_write=600]]"})
    assert usage["input_tokens"] == 900
    assert usage["input_tokens_details"] == {"cached_tokens": 500, "cache_write_tokens": 400}


def test_tool_calls_need_their_tool_and_share_max_tool_calls() -> None:
    text = "go [[web_search=3]] [[code=2]] [[image_gen=2]]"
    tools = [{"type": "web_search"}, {"type": "code_interpreter"}, {"type": "image_generation", "quality": "low"}]
    plan = plan_response({"input": text, "tools": tools, "max_tool_calls": 4})
    assert (plan.web_searches, plan.code_calls, plan.images) == (3, 1, 0)
    plan = plan_response({"input": text, "tools": tools[1:]})
    assert (plan.web_searches, plan.code_calls, plan.images) == (0, 2, 2)
    assert plan.tool_usage()["image_gen"]["output_tokens"] == 2 * IMAGE_TOKENS["low"]
    assert plan.tool_usage()["image_gen"]["input_tokens"] == 100


@pytest.mark.parametrize(
    ("body", "prompt_tokens", "completion_tokens", "finish"),
    [
        ({"prompt": "one two three [[len=5]]"}, 4, 5, "stop"),
        ({"prompt": "x [[len=40]]"}, 2, 16, "length"),  # the legacy default max_tokens is 16
        ({"prompt": ["a b [[len=3]]", "c [[len=3]]"], "n": 2, "max_tokens": 10}, 5, 2 * 2 * 3, "stop"),
        ({"prompt": "z [[len=3]]", "n": 1, "best_of": 3, "max_tokens": 10}, 2, 9, "stop"),
        ({"prompt": [1, 2, 3], "max_tokens": 4}, 3, 4, "length"),
    ],
)
def test_completion_usage(body: dict[str, Any], prompt_tokens: int, completion_tokens: int, finish: str) -> None:
    plan = plan_completion(body)
    assert plan["usage"]["prompt_tokens"] == prompt_tokens
    assert plan["usage"]["completion_tokens"] == completion_tokens
    assert plan["finish_reason"] == finish


def test_embedding_tokens() -> None:
    assert embedding_tokens("a b c") == [3]
    assert embedding_tokens(["a b", "c"]) == [2, 1]
    assert embedding_tokens([[1, 2, 3], [4]]) == [3, 1]
    assert embedding_tokens([5, 6]) == [2]
    with pytest.raises(MockHTTPError):
        embedding_tokens([{"x": 1}])


def test_speech_plan() -> None:
    plan = speech_plan({"input": "hello there", "instructions": "calm voice"})
    assert plan["frames"] == 11 and plan["seconds"] == MP3_FRAME_SECONDS * 11
    audio = math.ceil(MP3_FRAME_SECONDS * 11 * 1250 / 60)
    assert plan["usage"] == {"input_tokens": 4, "output_tokens": audio, "total_tokens": 4 + audio}


def wav(seconds: int, rate: int = 8000) -> bytes:
    data = bytes(seconds * rate * 2)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def test_transcription_plan() -> None:
    whisper = transcription_plan("whisper-1", wav(7), "")
    assert whisper["seconds"] == Decimal(7) and whisper["words"] == 14
    assert whisper["usage"] == {"type": "duration", "seconds": 7.0}
    tokens = transcription_plan("gpt-4o-transcribe", b"\x00" * 32_000, "two words")
    assert tokens["seconds"] == Decimal(2)  # not WAV: bytes / 16,000
    assert tokens["usage"]["input_token_details"] == {"text_tokens": 2, "audio_tokens": 20}
    assert tokens["usage"]["output_tokens"] == 4
