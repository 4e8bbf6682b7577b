"""`POST /v1/audio/speech` (binary audio, or SSE with `stream_format: "sse"`) and
`POST /v1/audio/transcriptions` / `/v1/audio/translations` (multipart; json, verbose_json,
diarized_json, text, srt, vtt; SSE with `stream=true`). Formulas: `surface_usage.speech_plan` and
`transcription_plan`.

Speech audio is real enough for a duration probe: MPEG-1 layer III frames (128 kbit/s, 44.1 kHz), ADTS
AAC frames, a WAV header with 24 kHz 16-bit PCM, raw PCM, an Ogg Opus stream (pages with granule
positions) or a FLAC STREAMINFO — all silent, all lasting `speech_plan`'s seconds. Binary answers go out
in 4 KiB chunks; `cut_after=K` cuts after K chunks, `stall_after=K` stalls there.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from tollway_local.mock.errors import bad_request
from tollway_local.mock.faults import resolve_after
from tollway_local.mock.responses import (
    TOKEN,
    USAGE,
    ConnectionCut,
    Event,
    EventStream,
    JSONResult,
    response_headers,
    run_watching,
    send_whole,
)
from tollway_local.mock.surface_usage import speech_plan, transcription_plan
from tollway_local.mock.text import VOCABULARY, messages_seed, token_ids

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from starlette.types import ASGIApp, Receive, Scope, Send

    from tollway_local.mock.context import MockRequest

__all__ = ["speech", "speech_audio", "speech_fault_texts", "transcriptions", "translations"]

CHUNK = 4096
_TYPES = {
    "mp3": b"audio/mpeg",
    "opus": b"audio/ogg",
    "aac": b"audio/aac",
    "flac": b"audio/flac",
    "wav": b"audio/wav",
    "pcm": b"audio/pcm",
}


def speech_fault_texts(body: Any) -> Iterable[str]:
    return [body["input"]] if isinstance(body, dict) and isinstance(body.get("input"), str) else []


# ---- audio synthesis (silence that lasts) -----------------------------------------------------------


def _mp3(frames: int) -> bytes:
    frame = b"\xff\xfb\x90\x00" + bytes(413)  # 144 × 128000 / 44100 = 417 bytes, no padding
    return frame * frames


def _adts(seconds: Decimal) -> bytes:
    count = math.ceil(seconds * 44100 / 1024)
    length = 7 + 8
    header = bytes(
        [
            0xFF,
            0xF1,
            (1 << 6) | (4 << 2),
            (1 << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,
            0xFC,
        ]
    )
    return (header + bytes(8)) * count


def _pcm(seconds: Decimal) -> bytes:
    return bytes(int(seconds * 48000) // 2 * 2)


def _wav(seconds: Decimal) -> bytes:
    data = _pcm(seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, 24000, 48000, 2, 16)
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


def _ogg_page(kind: int, granule: int, serial: int, seq: int, packet: bytes) -> bytes:
    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = b"OggS" + struct.pack("<BBqIIIB", 0, kind, granule, serial, seq, 0, len(segments))
    return header + bytes(segments) + packet


def _opus(seconds: Decimal) -> bytes:
    preskip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, preskip, 24000, 0, 0)
    pages = [
        _ogg_page(2, 0, 7, 0, head),
        _ogg_page(0, 0, 7, 1, b"OpusTags" + struct.pack("<I", 4) + b"mock" + bytes(4)),
    ]
    samples = int(seconds * 48000)
    step, seq, done = 48000, 2, 0
    while done < samples:
        done = min(samples, done + step)
        pages.append(_ogg_page(4 if done == samples else 0, preskip + done, 7, seq, bytes(40)))
        seq += 1
    return b"".join(pages)


def _flac(seconds: Decimal) -> bytes:
    samples = int(seconds * 44100)
    info = struct.pack(">HH", 4096, 4096) + bytes(6)
    packed = (44100 << 44) | (0 << 41) | (15 << 36) | samples
    info += packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80, 0, 0, 34]) + info


def speech_audio(fmt: str, frames: int, seconds: Decimal) -> bytes:
    """The mock's audio for `frames` MP3 frames' worth of time, in `fmt`."""
    if fmt == "mp3":
        return _mp3(frames)
    if fmt == "aac":
        return _adts(seconds)
    if fmt == "wav":
        return _wav(seconds)
    if fmt == "pcm":
        return _pcm(seconds)
    if fmt == "opus":
        return _opus(seconds)
    return _flac(seconds)


class BytesStream:
    """A 200 binary answer sent in chunks, with `cut_after`/`stall_after` counted in chunks."""

    def __init__(self, req: MockRequest, content_type: bytes, data: bytes) -> None:
        self.req = req
        self.content_type = content_type
        self.data = data
        self._finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        req, stats, record = self.req, self.req.stats, self.req.record
        chunks = [self.data[i : i + CHUNK] for i in range(0, len(self.data), CHUNK)]
        record.tokens_planned = len(chunks)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": response_headers(record, req.config, self.content_type),
            }
        )
        record.status = 200
        stats.stream_started(record)
        cut = resolve_after(req.faults.cut_after, len(chunks))
        stall = resolve_after(req.faults.stall_after, len(chunks))
        state = {"cut": False}

        async def write() -> None:
            if req.pacing.latency_s > 0:
                await asyncio.sleep(req.pacing.latency_s)
            for sent, chunk in enumerate(chunks):
                if cut is not None and sent >= cut:
                    state["cut"] = True
                    return
                if stall is not None and sent >= stall:
                    await asyncio.sleep(req.config.max_stall_s)
                    state["cut"] = True
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                record.tokens_sent = sent + 1
            self._finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        disconnected = await run_watching(receive, write, lambda: self._finished)
        if disconnected:
            stats.stream_finished(record, "client_disconnected")
        elif state["cut"]:
            stats.stream_finished(record, "cut")
            raise ConnectionCut
        else:
            stats.stream_finished(record, "completed")


def _speech_events(req: MockRequest, audio: bytes, usage: dict[str, Any] | None) -> Iterator[Event]:
    for step, start in enumerate(range(0, len(audio), CHUNK)):
        delta = {"type": "speech.audio.delta", "audio": base64.b64encode(audio[start : start + CHUNK]).decode()}
        yield (TOKEN, step, b"data: " + orjson.dumps(delta) + b"\n\n")
    done: dict[str, Any] = {"type": "speech.audio.done"}
    if usage is not None:
        done["usage"] = usage
    yield (USAGE, 0, b"data: " + orjson.dumps(done) + b"\n\n")


async def speech(req: MockRequest) -> ASGIApp:
    body = req.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not isinstance(body.get("voice"), str | dict):
        raise bad_request("Missing required parameter: 'voice'.", param="voice", code="missing_required_parameter")
    fmt = body.get("response_format") or "mp3"
    if fmt not in _TYPES:
        raise bad_request(f"Invalid 'response_format': {fmt!r}.", param="response_format", code="invalid_value")
    plan = speech_plan(body)
    audio = speech_audio(fmt, plan["frames"], plan["seconds"])
    if body.get("stream_format") == "sse":
        usage = None if req.faults.no_usage else plan["usage"]
        chunks = math.ceil(len(audio) / CHUNK)
        return EventStream(req, _speech_events(req, audio, usage), total_tokens=chunks, usage=usage)
    return BytesStream(req, _TYPES[fmt], audio)


# ---- transcriptions / translations -------------------------------------------------------------------


async def _form(req: MockRequest) -> tuple[dict[str, str], bytes | None]:
    if not req.headers.get("content-type", "").startswith("multipart/form-data"):
        raise bad_request("Expected a multipart/form-data body.", code="invalid_content_type")

    async def body() -> AsyncGenerator[bytes, None]:
        yield req.raw_body

    try:
        form = await MultiPartParser(Headers(req.headers), body(), max_part_size=1_000_000).parse()
    except MultiPartException as exc:
        raise bad_request(f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None
    fields: dict[str, str] = {}
    audio: bytes | None = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
            elif name == "file":
                audio = await value.read()
    finally:
        await form.close()
    req.record.body = {"fields": fields, "file_bytes": None if audio is None else len(audio)}
    return fields, audio


def _srt_time(seconds: Decimal, sep: str) -> str:
    ms = int(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _render(fmt: str, text: str, seconds: Decimal, usage: dict[str, Any] | None) -> tuple[bytes, bytes]:
    if fmt == "text":
        return text.encode(), b"text/plain; charset=utf-8"
    if fmt == "srt":
        return f"1\n{_srt_time(Decimal(0), ',')} --> {_srt_time(seconds, ',')}\n{text}\n\n".encode(), b"text/plain"
    if fmt == "vtt":
        return f"WEBVTT\n\n{_srt_time(Decimal(0), '.')} --> {_srt_time(seconds, '.')}\n{text}\n\n".encode(), b"text/vtt"
    payload: dict[str, Any] = {"text": text}
    if fmt in ("verbose_json", "diarized_json"):
        segment: dict[str, Any] = {"id": 0, "start": 0.0, "end": float(seconds), "text": text}
        if fmt == "verbose_json":  # Whisper's decoding details, all required by OpenAI's OpenAPI description
            segment |= {
                "seek": 0,
                "tokens": list(range(50364, 50364 + len(text.split()))),
                "temperature": 0.0,
                "avg_logprob": -0.25,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        payload = {
            "task": "transcribe",
            "language": "english",
            "duration": float(seconds),
            "text": text,
            "segments": [segment],
        }
    if usage is not None:
        payload["usage"] = usage
    return orjson.dumps(payload), b"application/json"


class _Plain:
    """A non-JSON 200 body (text/srt/vtt)."""

    def __init__(self, req: MockRequest, body: bytes, content_type: bytes) -> None:
        self.req, self.body, self.content_type = req, body, content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.req.record.status = 200
        await send_whole(send, 200, response_headers(self.req.record, self.req.config, self.content_type), self.body)
        self.req.record.outcome = "completed"


def _transcript_events(words: list[str], usage: dict[str, Any] | None) -> Iterator[Event]:
    for step, word in enumerate(words):
        yield (TOKEN, step, b"data: " + orjson.dumps({"type": "transcript.text.delta", "delta": word}) + b"\n\n")
    done: dict[str, Any] = {"type": "transcript.text.done", "text": "".join(words)}
    if usage is not None:
        done["usage"] = usage
    yield (USAGE, 0, b"data: " + orjson.dumps(done) + b"\n\n")


async def _transcribe(req: MockRequest) -> ASGIApp:
    fields, audio = await _form(req)
    model = fields.get("model")
    if not model:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not audio:
        raise bad_request("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    plan = transcription_plan(model, audio, fields.get("prompt", ""))
    seed = messages_seed([len(audio), audio[:64].hex()])
    words = [VOCABULARY[t] for t in token_ids(seed, 0, plan["words"])]
    usage = None if req.faults.no_usage else plan["usage"]
    req.record.tokens_planned = len(words)
    if fields.get("stream") in ("true", "True", "1"):
        return EventStream(req, _transcript_events(words, usage), total_tokens=len(words), usage=usage)
    fmt = fields.get("response_format") or "json"
    body, content_type = _render(fmt, "".join(words).strip(), plan["seconds"], usage)
    if content_type == b"application/json":
        return JSONResult(req, orjson.loads(body), delay_s=req.pacing.latency_s, usage=usage)
    return _Plain(req, body, content_type)


async def transcriptions(req: MockRequest) -> ASGIApp:
    return await _transcribe(req)


async def translations(req: MockRequest) -> ASGIApp:
    return await _transcribe(req)
