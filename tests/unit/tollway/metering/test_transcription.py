"""Transcription billing on its own: the usage an answer reports (per minute or per token, odd shapes
counted as none), what tollway measured when it reports nothing, and both meters."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from tollway.errors import InvalidRequest
from tollway.metering.transcription import (
    AUDIO_TOKENS_PER_S_ESTIMATE,
    TranscriptionBill,
    TranscriptionByteMeter,
    transcription_hold,
    transcription_meter,
)
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser


def bill(pricing: str, measured: Decimal | None = Decimal(12)) -> TranscriptionBill:
    return TranscriptionBill(pricing=pricing, measured=measured, seconds_bound=Decimal(40), prompt_texts=("abcd",))


def event(body: dict[str, Any]) -> SSEEvent:
    (parsed,) = SSEParser().feed(b"data: " + orjson.dumps(body) + b"\n\n")
    return parsed


@pytest.mark.parametrize(
    ("answer", "seconds"),
    [
        ({"usage": {"type": "duration", "seconds": 9}}, Decimal(9)),
        ({"usage": {"type": "duration", "seconds": "x"}, "duration": 8.5}, Decimal("8.5")),
        ({"duration": "7"}, Decimal(7)),
        ({"duration": True}, None),
        ({"duration": -1}, None),
        ({"duration": "9e999999"}, None),  # finite as a Decimal, but no audio file's
        ({"usage": [], "duration": None}, None),
    ],
)
def test_per_minute_answers_report_their_duration(answer: dict[str, Any], seconds: Decimal | None) -> None:
    expected = None if seconds is None else Usage(seconds=seconds)
    assert bill("minutes").usage_of(answer) == expected


def test_per_token_answers_report_text_and_audio_input() -> None:
    reported = {"type": "tokens", "input_tokens": 50, "input_token_details": {"audio_tokens": 40}, "output_tokens": 9}
    assert bill("tokens").usage_of({"usage": reported}) == Usage(
        input_tokens=50, audio_input_tokens=40, output_tokens=9
    )
    odd = {"input_tokens": 5, "input_tokens_details": ["audio"]}  # no breakdown, still the totals
    assert bill("tokens").usage_of({"usage": odd}) == Usage(input_tokens=5)
    assert bill("tokens").usage_of({"text": "hi"}) is None


def test_without_usage_tollway_bills_what_it_measured_else_the_bound() -> None:
    assert bill("minutes").measured_usage("ignored") == Usage(seconds=Decimal(12))
    assert bill("minutes", measured=None).measured_usage(None) == Usage(seconds=Decimal(40))
    audio = 12 * AUDIO_TOKENS_PER_S_ESTIMATE
    assert bill("tokens").measured_usage("x" * 8) == Usage(
        input_tokens=1 + audio, audio_input_tokens=audio, output_tokens=2
    )
    assert bill("tokens", measured=None).measured_usage(None).audio_input_tokens == 40 * AUDIO_TOKENS_PER_S_ESTIMATE


def test_the_byte_meter_estimates_the_text_it_forwarded_up_to_a_bound() -> None:
    meter = TranscriptionByteMeter(bill("tokens"))
    meter.feed(b"x" * 8)
    assert meter.usage(complete=True) == bill("tokens").measured_usage("x" * 8)
    huge = TranscriptionByteMeter(bill("tokens"))
    for _ in range(3):
        huge.feed(b"y" * (1 << 20))
    usage = huge.usage(complete=True)
    assert usage is not None and usage.output_tokens == (1 << 20) // 4  # the first MiB only


def test_the_stream_meter_takes_the_done_events_usage_else_the_measurement() -> None:
    meter = transcription_meter(bill("tokens"))
    meter.on_event(event({"type": "transcript.text.delta", "delta": "hi"}))
    reported = {"type": "tokens", "input_tokens": 3, "output_tokens": 1}
    meter.on_event(event({"type": "transcript.text.done", "text": "hi", "usage": reported}))
    assert (meter.produced_output, meter.done, meter.usage) == (1, True, Usage(input_tokens=3, output_tokens=1))
    bare = transcription_meter(bill("tokens"))
    bare.on_event(event({"type": "transcript.text.done", "text": "x" * 8}))
    assert bare.usage == bill("tokens").measured_usage("x" * 8)


def test_the_hold_by_pricing_kind_checked_by_hand() -> None:
    per_minute = ModelPrice.model_validate({"per_minute": "0.006", "per_call": "0.01"})
    assert transcription_hold(per_minute, model="m", seconds=Decimal(90), input_bound=5) == Decimal("0.019")
    tokens = ModelPrice.model_validate({"tokens": {"input": "2.5", "audio_input": "6", "output": "10"}})
    hold = transcription_hold(tokens, model="m", seconds=Decimal("10.5"), input_bound=40)
    audio_in, text_out = 315, 210 + 512  # ceil(10.5 × 30); ceil(10.5 × 20) + the allowance
    assert hold == (40 * Decimal("2.5") + audio_in * 6 + text_out * 10) / 1_000_000


def test_what_cannot_be_held_is_refused() -> None:
    with pytest.raises(InvalidRequest) as not_audio:
        transcription_hold(
            ModelPrice.model_validate({"per_million_characters": "15"}), model="m", seconds=Decimal(1), input_bound=0
        )
    assert not_audio.value.param == "model" and "not an audio model" in str(not_audio.value)
    with pytest.raises(InvalidRequest) as unpriced:
        transcription_hold(ModelPrice.model_validate({}), model="m", seconds=Decimal(1), input_bound=0)
    assert unpriced.value.code == "unpriced_model"
