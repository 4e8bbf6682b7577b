"""Legacy completions, embeddings, moderations, speech and transcriptions as the pipeline sees them:
validation, the hold each reserves (checked by hand), and the usage each answer is billed at."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import orjson
import pytest
from relay.endpoints.audio import Speech
from relay.endpoints.audio_transcriptions import Transcriptions
from relay.endpoints.base import RequestBody
from relay.endpoints.completions import Completions
from relay.endpoints.embeddings import Embeddings
from relay.endpoints.moderations import DEFAULT_MODERATION_MODEL, Moderations
from relay.multipart import FilePart, encode_multipart, parse_multipart
from tollway.errors import InvalidRequest
from tollway.metering.speech import AUDIO_TOKENS_PER_S, MIN_CHARS_PER_S
from tollway.metering.transcription import AUDIO_TOKENS_PER_S_BOUND, TEXT_TOKENS_ALLOWANCE, TEXT_TOKENS_PER_S_BOUND
from tollway.pricing.engine import cost_of
from tollway.pricing.schema import load_price_file
from tollway.pricing.usage import Usage
from tollway.settings import Settings
from tollway.sse import SSEEvent

from tests.support.stack import TEST_PRICES

PRICES = load_price_file(TEST_PRICES).models
ONE = Decimal(1)


def json_body(data: Any) -> RequestBody:
    return RequestBody(raw=orjson.dumps(data), content_type="application/json", json=data)


def wav(seconds: float) -> bytes:
    data = bytes(int(seconds * 16000) * 2)
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
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


def form(fields: dict[str, str], audio: bytes) -> RequestBody:
    raw, ctype = encode_multipart(list(fields.items()), [FilePart("file", "a.wav", "audio/wav", audio)])
    return RequestBody(raw=raw, content_type=ctype, form=parse_multipart(raw, ctype))


# ---- completions ---------------------------------------------------------------------------------


def test_completions_reserve_every_generated_completion() -> None:
    spec = Completions()
    data = {"model": "t-completions", "prompt": ["a", "b"], "n": 2, "best_of": 3, "max_tokens": 10}
    prepared = spec.prepare(json_body(data))
    assert prepared.choices == 2 * 3  # two prompts, best_of 3 generated each
    budget = spec.budget(prepared, PRICES["t-completions"], ONE)
    assert budget.hold_micros(10) == len(orjson.dumps(data)) * 1 + 6 * 10 * 4


def test_completions_keep_the_legacy_16_token_default() -> None:
    spec = Completions()
    prepared = spec.prepare(json_body({"model": "t-completions", "prompt": "hi"}))
    assert prepared.requested_output == 16
    assert "max_tokens" not in orjson.loads(spec.upstream_body(prepared, 16, "up").content)
    assert orjson.loads(spec.upstream_body(prepared, 12, "up").content)["max_tokens"] == 12


@pytest.mark.parametrize(
    "data",
    [
        {"model": "t-completions", "prompt": 5},
        {"model": "t-completions", "prompt": "x", "n": 3, "best_of": 2},
        {"model": "t-completions", "prompt": "x", "stream": True, "best_of": 2},
        {"prompt": "x"},
    ],
)
def test_completions_refusals(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        Completions().prepare(json_body(data))


def test_completions_stream_forces_usage_and_hides_it_from_a_client_that_did_not_ask() -> None:
    spec = Completions()
    prepared = spec.prepare(json_body({"model": "t-completions", "prompt": "x", "stream": True}))
    sent = orjson.loads(spec.upstream_body(prepared, 16, "up").content)
    assert sent["stream_options"] == {"include_usage": True}
    meter = spec.meter(prepared)
    chunk = orjson.dumps({"choices": [{"text": " a", "index": 0}]})
    assert meter.on_event(SSEEvent(b"data: " + chunk, None, chunk)) is not None
    usage = orjson.dumps({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}})
    assert meter.on_event(SSEEvent(b"data: " + usage, None, usage)) is None
    assert meter.usage == Usage(input_tokens=2, output_tokens=1) and meter.produced_output == 1


# ---- embeddings and moderations ------------------------------------------------------------------


def test_embeddings_bound_is_text_bytes_plus_array_tokens() -> None:
    spec = Embeddings()
    prepared = spec.prepare(json_body({"model": "t-embed", "input": ["héllo", "ab"]}))
    assert prepared.input_bound == len("héllo".encode()) + 2
    tokens = spec.prepare(json_body({"model": "t-embed", "input": [[1, 2, 3], [4]], "encoding_format": "base64"}))
    assert tokens.input_bound == 4 and not tokens.has_output_limit
    assert spec.usage_of({"usage": {"prompt_tokens": 7, "total_tokens": 7}}) == Usage(input_tokens=7)
    assert spec.budget(tokens, PRICES["t-embed"], ONE).hold_micros(0) == 1  # 4 × 0.1, rounded up once


@pytest.mark.parametrize("value", [None, [], [1, "a"], {"a": 1}, [[1], ["x"]]])
def test_embeddings_refuse_malformed_input(value: Any) -> None:
    data = {"model": "t-embed"} if value is None else {"model": "t-embed", "input": value}
    with pytest.raises(InvalidRequest):
        Embeddings().prepare(json_body(data))


def test_moderation_defaults_its_model_and_is_free_but_estimated() -> None:
    spec = Moderations()
    prepared = spec.prepare(json_body({"input": [{"type": "text", "text": "one two three four"}]}))
    assert prepared.model == DEFAULT_MODERATION_MODEL
    assert spec.usage_of({"results": []}) is None
    usage = spec.estimate(prepared, 0)
    assert usage.input_tokens == 5
    assert cost_of(PRICES["t-moderation"], usage).micros == 0
    sent = orjson.loads(spec.upstream_body(prepared, None, "omni-up").content)
    assert sent["model"] == "omni-up"


# ---- speech --------------------------------------------------------------------------------------


def test_speech_per_character_is_reserved_and_billed_exactly() -> None:
    spec = Speech()
    prepared = spec.prepare(json_body({"model": "t-tts", "input": "x" * 1000, "voice": "alloy"}))
    assert spec.budget(prepared, PRICES["t-tts"], ONE).hold_micros(0) == 15_000  # 1000 chars at $15/1M
    assert spec.response_mode(prepared) == "bytes"
    meter = spec.byte_meter(prepared)
    meter.feed(b"anything")
    assert meter.usage(True) == Usage(characters=1000)


def test_speech_token_model_worst_case_and_measured_audio() -> None:
    spec = Speech()
    data = {"model": "t-tts-tokens", "input": "y" * 100, "voice": "alloy", "speed": 0.5, "response_format": "pcm"}
    prepared = spec.prepare(json_body(data))
    worst_audio = math.ceil(Decimal(100) / (MIN_CHARS_PER_S * Decimal("0.5")) * AUDIO_TOKENS_PER_S)
    hold = spec.budget(prepared, PRICES["t-tts-tokens"], ONE).hold_micros(0)
    assert hold == math.ceil(100 * Decimal("0.6") + worst_audio * 12)
    meter = spec.byte_meter(prepared)
    meter.feed(bytes(48_000 * 3))  # three seconds of 24 kHz 16-bit PCM
    usage = meter.usage(True)
    assert usage is not None and usage.audio_output_tokens == math.ceil(3 * AUDIO_TOKENS_PER_S) == 63


def test_speech_sse_uses_the_reported_usage() -> None:
    spec = Speech()
    prepared = spec.prepare(json_body({"model": "t-tts-tokens", "input": "hi", "voice": "v", "stream_format": "sse"}))
    spec.budget(prepared, PRICES["t-tts-tokens"], ONE)
    meter = spec.meter(prepared)
    done = orjson.dumps({"type": "speech.audio.done", "usage": {"input_tokens": 3, "output_tokens": 40}})
    meter.on_event(SSEEvent(b"data: " + done, None, done))
    assert meter.done and meter.usage == Usage(input_tokens=3, output_tokens=40, audio_output_tokens=40)


# ---- transcriptions ------------------------------------------------------------------------------


def test_per_minute_transcription_reserves_the_measured_duration_plus_a_second() -> None:
    spec = Transcriptions("transcriptions", Settings())
    prepared = spec.prepare(form({"model": "t-whisper"}, wav(30)))
    assert prepared.extra["measured"] == Decimal(30)
    assert spec.budget(prepared, PRICES["t-whisper"], ONE).hold_micros(0) == math.ceil(Decimal(31) / 60 * 6000)
    assert spec.usage_of({"text": "x", "usage": {"type": "duration", "seconds": 29.5}}) == Usage(
        seconds=Decimal("29.5")
    )


def test_text_formats_of_per_minute_models_bill_the_measured_duration() -> None:
    spec = Transcriptions("translations", Settings())
    prepared = spec.prepare(form({"model": "t-whisper", "response_format": "srt"}, wav(12)))
    spec.budget(prepared, PRICES["t-whisper"], ONE)
    assert spec.response_mode(prepared) == "bytes"
    meter = spec.byte_meter(prepared)
    meter.feed(b"1\n00:00:00,000 --> 00:00:12,000\nhello\n")
    assert meter.usage(True) == Usage(seconds=Decimal(12))


def test_unmeasurable_audio_is_refused_for_text_formats_of_per_minute_models() -> None:
    spec = Transcriptions("transcriptions", Settings())
    prepared = spec.prepare(form({"model": "t-whisper", "response_format": "text"}, b"\x00" * 4000))
    with pytest.raises(InvalidRequest) as caught:
        spec.budget(prepared, PRICES["t-whisper"], ONE)
    assert caught.value.code == "unmeasurable_audio"
    json_spec = Transcriptions("transcriptions", Settings(audio_min_bytes_per_s=1000))
    prepared = json_spec.prepare(form({"model": "t-whisper"}, b"\x00" * 4000))
    assert json_spec.budget(prepared, PRICES["t-whisper"], ONE).hold_micros(0) == math.ceil(Decimal(4) / 60 * 6000)


def test_token_models_answer_text_from_json_with_exact_usage() -> None:
    spec = Transcriptions("transcriptions", Settings())
    prepared = spec.prepare(form({"model": "t-transcribe", "response_format": "text", "prompt": "a b"}, wav(10)))
    hold = spec.budget(prepared, PRICES["t-transcribe"], ONE).hold_micros(0)
    audio, out = math.ceil(11 * AUDIO_TOKENS_PER_S_BOUND), 11 * TEXT_TOKENS_PER_S_BOUND + TEXT_TOKENS_ALLOWANCE
    assert hold == math.ceil(3 * Decimal("2.5") + audio * Decimal("2.5") + out * 10)
    sent = spec.upstream_body(prepared, None, "up")
    parsed = parse_multipart(sent.content, sent.content_type)
    assert parsed.first("response_format") == "json" and parsed.first("model") == "up"
    answer = {
        "text": "hello",
        "usage": {
            "type": "tokens",
            "input_tokens": 105,
            "input_token_details": {"audio_tokens": 100},
            "output_tokens": 2,
        },
    }
    assert spec.usage_of(answer) == Usage(input_tokens=105, audio_input_tokens=100, output_tokens=2)
    assert spec.render(prepared, answer, orjson.dumps(answer)) == (b"hello", "text/plain; charset=utf-8")


@pytest.mark.parametrize("fields", [{}, {"model": "t-whisper", "response_format": "mp4"}])
def test_transcription_refusals(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        Transcriptions("transcriptions", Settings()).prepare(form(fields, wav(1)))
