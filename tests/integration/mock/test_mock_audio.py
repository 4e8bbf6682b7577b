"""The mock's audio over real HTTP: speech in every format (timed by tollway's probe), SSE speech with
usage, transcriptions in every format and as a stream, and the faults (an error mode, no_usage, cut)."""

from __future__ import annotations

import json
import struct
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import pytest
from tollway.metering.audio_probe import probe_duration
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.surface_usage import MP3_FRAME_SECONDS, speech_plan, transcription_plan

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with MockServer(MockConfig.fast()) as mock, httpx.Client(base_url=mock.url, headers=AUTH, timeout=10) as client:
        yield client


def wav(seconds: int) -> bytes:
    data = bytes(seconds * 16000)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
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


@pytest.mark.parametrize("fmt", ["mp3", "aac", "wav", "opus", "flac"])
def test_speech_audio_lasts_the_planned_time(http: httpx.Client, fmt: str) -> None:
    body = {"model": "tts", "voice": "alloy", "input": "x" * 30, "response_format": fmt}
    response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("audio/")
    measured = probe_duration(response.content)
    assert measured is not None and abs(measured - MP3_FRAME_SECONDS * 30) < Decimal("0.03")


def test_speech_sse_ends_with_usage(http: httpx.Client) -> None:
    body = {"model": "tts", "voice": "alloy", "input": "two words", "stream_format": "sse"}
    lines = [
        json.loads(line[6:])
        for line in http.post("/v1/audio/speech", json=body).text.splitlines()
        if line.startswith("data: ")
    ]
    assert lines[-1] == {"type": "speech.audio.done", "usage": speech_plan(body)["usage"]}


@pytest.mark.parametrize("fmt", ["json", "verbose_json", "text", "srt", "vtt"])
def test_transcription_formats(http: httpx.Client, fmt: str) -> None:
    response = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(3), "audio/wav")},
        data={"model": "whisper-1", "response_format": fmt},
    )
    assert response.status_code == 200
    if "json" in fmt:
        assert response.json()["usage"] == transcription_plan("whisper-1", wav(3), "")["usage"]
    else:
        assert "usage" not in response.text and response.text.strip()


def test_transcription_stream_and_faults(http: httpx.Client) -> None:
    stream = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(2), "audio/wav")},
        data={"model": "gpt-4o-transcribe", "stream": "true"},
    )
    last = json.loads([line for line in stream.text.splitlines() if line.startswith("data: ")][-1][6:])
    assert last["type"] == "transcript.text.done" and last["usage"]["type"] == "tokens"
    failed = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(1), "audio/wav")},
        data={"model": "w"},
        headers={"X-Mock-Fault": "http502"},
    )
    assert failed.status_code == 502
    bare = http.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav(1), "audio/wav")},
        data={"model": "whisper-1"},
        headers={"X-Mock-Fault": "no_usage"},
    )
    assert "usage" not in bare.json()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(
            "/v1/audio/speech",
            json={"model": "t", "voice": "v", "input": "y" * 200},
            headers={"X-Mock-Fault": "cut_after=2"},
        )
