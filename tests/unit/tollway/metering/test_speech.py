"""Speech billing on its own: the usage by pricing kind (characters, reported tokens, measured audio,
the bound when nothing was measured), and both meters measuring the audio they pass on."""

from __future__ import annotations

import base64
import math
from decimal import Decimal

import orjson
import pytest
from tollway.errors import InvalidRequest
from tollway.metering.audio_clock import StreamClock
from tollway.metering.speech import (
    AUDIO_TOKENS_PER_S,
    SpeechBill,
    SpeechByteMeter,
    pricing_kind,
    speech_hold,
    speech_meter,
)
from tollway.metering.stream import StreamBroke
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser

PCM_SECOND = bytes(48_000)  # one second of OpenAI's pcm: 24 kHz, 16-bit mono


def bill(pricing: str) -> SpeechBill:
    return SpeechBill(pricing=pricing, characters=42, audio_tokens_bound=500, prompt_texts=("x" * 40, "be calm"))


def event(body: dict[str, object]) -> SSEEvent:
    (parsed,) = SSEParser().feed(b"data: " + orjson.dumps(body) + b"\n\n")
    return parsed


@pytest.mark.parametrize(
    ("price", "kind"),
    [
        ({"per_million_characters": "15"}, "characters"),
        ({"per_minute": "0.006"}, "minutes"),
        ({"tokens": {"input": "0.6", "audio_output": "12"}}, "tokens"),
    ],
)
def test_the_pricing_kind_follows_the_price_entry(price: dict[str, object], kind: str) -> None:
    assert pricing_kind(ModelPrice.model_validate(price)) == kind


def test_characters_are_billed_whatever_was_reported_or_measured() -> None:
    assert bill("characters").usage({"output_tokens": 9}, Decimal(3)) == Usage(characters=42)


def test_reported_tokens_win_over_the_measurement() -> None:
    usage = bill("tokens").usage({"input_tokens": 3, "output_tokens": 40, "odd": []}, Decimal(100))
    assert usage == Usage(input_tokens=3, output_tokens=40, audio_output_tokens=40)


def test_measured_seconds_bill_tokens_and_minutes_and_the_bound_stands_in_for_none() -> None:
    measured = bill("tokens").usage(None, Decimal(3))
    assert measured == Usage(input_tokens=10 + 2, output_tokens=63, audio_output_tokens=63)  # ceil(3 × 20.83)
    unmeasured = bill("tokens").usage(None, None)
    assert (unmeasured.output_tokens, unmeasured.audio_output_tokens) == (500, 500)
    assert bill("minutes").usage(None, Decimal(3)) == Usage(seconds=Decimal(3))
    assert bill("minutes").usage(None, None) == Usage(seconds=Decimal(500) / AUDIO_TOKENS_PER_S)


def test_the_byte_meter_measures_what_it_forwards_and_says_so() -> None:
    meter = SpeechByteMeter(bill("tokens"), StreamClock("pcm"))
    for _ in range(3):
        meter.feed(PCM_SECOND)
    assert meter.usage_source == "estimated" and not meter.drain_on_disconnect
    usage = meter.usage(complete=True)
    assert usage is not None and usage.audio_output_tokens == math.ceil(3 * AUDIO_TOKENS_PER_S)


def test_the_sse_meter_measures_audio_deltas_when_the_done_event_has_no_usage() -> None:
    clock = StreamClock("pcm")
    meter = speech_meter(bill("tokens"), clock)
    audio = base64.b64encode(PCM_SECOND * 2).decode()
    for body in ({"type": "speech.audio.delta", "audio": audio}, {"type": "speech.audio.delta", "audio": "%%"}):
        meter.on_event(event(body))
    assert meter.produced_output == 2 and clock.seconds == Decimal(2)
    meter.on_event(event({"type": "speech.audio.done", "usage": "none"}))
    assert meter.done and meter.usage == bill("tokens").usage(None, Decimal(2))


def test_the_sse_meter_takes_the_reported_usage_and_breaks_on_an_error() -> None:
    meter = speech_meter(bill("tokens"), StreamClock("mp3"))
    meter.on_event(event({"type": "speech.audio.done", "usage": {"input_tokens": 1, "output_tokens": 2}}))
    assert meter.usage == Usage(input_tokens=1, output_tokens=2, audio_output_tokens=2)
    with pytest.raises(StreamBroke):
        speech_meter(bill("tokens"), StreamClock("mp3")).on_event(event({"type": "error", "error": {"x": 1}}))


def test_the_hold_by_pricing_kind_checked_by_hand() -> None:
    per_char = ModelPrice.model_validate({"per_million_characters": "15", "per_call": "0.001"})
    assert speech_hold(per_char, model="m", characters=1000, input_bound=9, audio_tokens_bound=9) == Decimal("0.016")
    per_minute = ModelPrice.model_validate({"per_minute": "0.6"})
    # 1,250 audio tokens are a minute.
    assert speech_hold(per_minute, model="m", characters=1, input_bound=1, audio_tokens_bound=1250) == Decimal("0.6")
    tokens = ModelPrice.model_validate({"tokens": {"input": "0.6", "output": "2", "audio_output": "12"}})
    hold = speech_hold(tokens, model="m", characters=1, input_bound=100, audio_tokens_bound=1000)
    assert hold == (100 * Decimal("0.6") + 1000 * 12) / 1_000_000


def test_a_token_model_without_token_prices_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        speech_hold(ModelPrice.model_validate({}), model="m", characters=1, input_bound=1, audio_tokens_bound=1)
    assert refused.value.code == "unpriced_model"
