"""Audio through the real stack with the official SDK: speech (per character; per token, measured or
reported), transcriptions and translations in every format (per minute, from the upstream's duration
or tollway's own measurement; per token), the 413 and 400 refusals that cost nothing.

Test prices: t-tts $15 per 1M characters; t-tts-tokens text in 0.60, audio out 12.00 per 1M tokens;
t-whisper $0.006 a minute; t-transcribe text/audio in 2.50, out 10.00 per 1M tokens."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal

import httpx
import openai
import pytest
from tollway.money import ceil_micros
from tollway_local.mock import MockServer
from tollway_local.mock.surface_usage import MP3_FRAME_SECONDS

from tests.support.stack import LocalStack, wait_until

pytestmark = pytest.mark.integration


def wav(seconds: int, rate: int = 8000) -> bytes:
    data = bytes(seconds * rate * 2)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    head = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    return head + b"data" + struct.pack("<I", len(data)) + data


def per_minute(seconds: Decimal) -> int:
    return ceil_micros(Decimal("0.006") * seconds / 60)


def test_speech_per_character_streams_binary_audio(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-tts"], mock.base_url)
    who = stack.customer()
    text = "The quick brown fox jumps over the lazy dog. " * 4
    audio = stack.client(who.key).audio.speech.create(model="t-tts", voice="alloy", input=text)
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert len(audio.content) == 417 * len(text)  # the mock's frames, byte for byte
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["units"] == {"characters": len(text)}
    assert record["charge"] == math.ceil(len(text) * 15)


def test_speech_per_token_binary_is_billed_from_the_audio_tollway_measured(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-tts-tokens"], mock.base_url)
    who = stack.customer()
    text = "a" * 120
    stack.client(who.key).audio.speech.create(model="t-tts-tokens", voice="alloy", input=text, response_format="wav")
    (record,) = stack.wait_records(who.account_id, 1)
    seconds = MP3_FRAME_SECONDS * 120  # the mock's audio length; its WAV is 24 kHz 16-bit PCM
    audio_tokens = math.ceil(Decimal(int(seconds * 48000) // 2 * 2) / 48000 * Decimal(1250) / 60)
    assert record["tokens"] == {"input": 30, "output": audio_tokens, "audio_output": audio_tokens}
    assert record["usage_source"] == "estimated"
    assert record["charge"] == ceil_micros((30 * Decimal("0.6") + audio_tokens * 12) / 1_000_000)


def test_speech_as_server_sent_events_uses_the_reported_usage(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-tts-tokens"], mock.base_url)
    who = stack.customer()
    body = {"model": "t-tts-tokens", "voice": "alloy", "input": "four words right here", "stream_format": "sse"}
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{stack.url}/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {who.key}"})
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["usage_source"] == "upstream" and record["stream"]
    assert record["charge"] == ceil_micros(
        (usage["input_tokens"] * Decimal("0.6") + usage["output_tokens"] * 12) / 10**6
    )


@pytest.mark.parametrize("fmt", ["json", "verbose_json", "text", "srt", "vtt"])
def test_whisper_transcription_in_every_format_is_billed_per_minute(
    stack: LocalStack, mock: MockServer, fmt: str
) -> None:
    stack.channel(["t-whisper"], mock.base_url)
    who = stack.customer()
    result = stack.client(who.key).audio.transcriptions.create(
        model="t-whisper",
        file=("talk.wav", wav(45), "audio/wav"),
        response_format=fmt,  # type: ignore[call-overload]
    )
    assert result
    (record,) = stack.wait_records(who.account_id, 1)
    assert Decimal(record["units"]["seconds"]) == Decimal(45)
    assert record["charge"] == per_minute(Decimal(45)) == 4500
    # json formats carry the upstream's duration; text, srt and vtt are timed by tollway itself.
    assert record["usage_source"] == ("upstream" if "json" in fmt else "estimated")


def test_translation_is_billed_per_minute(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-whisper"], mock.base_url)
    who = stack.customer()
    # The SDK marks the endpoint deprecated (it shuts down upstream on 2027-02-26).
    with pytest.warns(DeprecationWarning, match="deprecated"):
        translated = stack.client(who.key).audio.translations.create(
            model="t-whisper", file=("fr.wav", wav(20), "audio/wav")
        )
    assert translated.text
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["endpoint"] == "audio.translations" and record["charge"] == per_minute(Decimal(20))


def test_token_priced_transcription_json_text_and_stream(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-transcribe"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    as_json = client.audio.transcriptions.create(model="t-transcribe", file=("a.wav", wav(10), "audio/wav"))
    as_text = client.audio.transcriptions.create(
        model="t-transcribe", file=("a.wav", wav(10), "audio/wav"), response_format="text"
    )
    assert isinstance(as_text, str) and as_text == as_json.text  # rendered from the json tollway asked for
    events = list(
        client.audio.transcriptions.create(model="t-transcribe", file=("a.wav", wav(10), "audio/wav"), stream=True)
    )
    assert events[-1].type == "transcript.text.done"
    # 10 s: 100 audio tokens at 2.50, 20 transcript words at 10 — exactly, three times.
    expected = ceil_micros((100 * Decimal("2.5") + 20 * 10) / 10**6)
    records = stack.wait_records(who.account_id, 3)
    assert [r["charge"] for r in records] == [expected] * 3
    assert all(r["tokens"] == {"input": 100, "audio_input": 100, "output": 20} for r in records)


def test_an_upload_over_the_limit_is_413_with_the_limit_and_costs_nothing(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-whisper"], mock.base_url)
    who = stack.customer()
    # Clients that raise are closed at once: their sockets must not wait for the garbage collector.
    with stack.client(who.key) as client, pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="t-whisper", file=("big.wav", wav(260, rate=8000), "audio/wav"))
    assert caught.value.status_code == 413
    assert "4,000,000 bytes" in caught.value.message
    (record,) = wait_until(lambda: stack.records(who.account_id), what="the refusal's record")
    assert record["status"] == "refused" and record["http_status"] == 413 and record["charge"] == 0
    assert mock.stats()["requests_total"] == 0
    assert stack.balance(who.account_id) == 1_000_000 and stack.audit(who.account_id)["ok"]


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nt-whisper',
            "invalid_multipart",
        ),
        ("multipart/form-data", b"no boundary at all", "invalid_multipart"),
        ("application/json", b'{"model": "t-whisper"}', "invalid_content_type"),
    ],
)
def test_a_broken_upload_is_400_and_costs_nothing(
    stack: LocalStack, mock: MockServer, content_type: str, body: bytes, code: str
) -> None:
    stack.channel(["t-whisper"], mock.base_url)
    who = stack.customer()
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{stack.url}/v1/audio/transcriptions",
            content=body,
            headers={"Authorization": f"Bearer {who.key}", "content-type": content_type},
        )
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    (record,) = wait_until(lambda: stack.records(who.account_id), what="the refusal's record")
    assert record["status"] == "refused" and record["charge"] == 0
    assert mock.stats()["requests_total"] == 0 and stack.balance(who.account_id) == 1_000_000


def test_audio_tollway_cannot_time_is_refused_for_text_answers_of_per_minute_models(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-whisper"], mock.base_url)
    who = stack.customer()
    with stack.client(who.key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="t-whisper", file=("noise.bin", b"\x00" * 5000, "application/octet-stream"), response_format="srt"
        )
    assert caught.value.code == "unmeasurable_audio"
    assert mock.stats()["requests_total"] == 0
