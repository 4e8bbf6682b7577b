"""``POST /v1/audio/speech``: binary audio streamed back chunk by chunk (or SSE with ``stream_format``).

Billing follows the model's price:

- per input character (tts-1, tts-1-hd): the characters of ``input``, known before the call — the
  reservation is the charge;
- per token (gpt-4o-mini-tts): text input tokens plus audio output tokens. The SSE form reports them
  (``speech.audio.done``); a binary answer does not, so tollway measures the audio it forwarded
  (``audio_clock``) and converts at ``AUDIO_TOKENS_PER_S`` (reference §1.4: $12 per 1M audio tokens is
  ≈ $0.015 per minute, i.e. 1,250 tokens a minute); a format it cannot measure (flac) is billed at the
  reserved bound. The record says ``usage_source: estimated`` for both.

The worst case for token models assumes speech no faster than ``MIN_CHARS_PER_S`` characters a second
at the requested ``speed``.
"""

from __future__ import annotations

import base64
import binascii
import math
from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent
from tollway.tokens import estimate_text_tokens

from relay.endpoints.audio_clock import StreamClock
from relay.endpoints.base import (
    BodyKind,
    EndpointHooks,
    Prepared,
    RequestBody,
    ResponseMode,
    UpstreamBody,
    event_object,
    typed_event_kind,
)
from relay.endpoints.fields import count, json_object, require_model
from relay.endpoints.responses_tools import dearest

__all__ = ["AUDIO_TOKENS_PER_S", "MIN_CHARS_PER_S", "Speech", "pricing_kind"]

AUDIO_TOKENS_PER_S = Decimal(1250) / Decimal(60)
MIN_CHARS_PER_S = Decimal(5)
_MILLION = Decimal(1_000_000)
_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


def pricing_kind(price: ModelPrice) -> str:
    """How an audio model is billed: "characters", "minutes" or "tokens"."""
    if price.per_million_characters is not None:
        return "characters"
    if price.per_minute is not None:
        return "minutes"
    return "tokens"


def _speed(body: dict[str, Any]) -> Decimal:
    value = body.get("speed", 1)
    if value is None:
        return Decimal(1)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.25 <= value <= 4.0:
        raise InvalidRequest("'speed' must be a number between 0.25 and 4.0.", param="speed")
    return Decimal(str(value))


class Speech(EndpointHooks):
    """One request's spec (built per request: the meters report back through it)."""

    name = "audio.speech"
    upstream_path = "/audio/speech"
    body_kind: BodyKind = "json"

    def __init__(self) -> None:
        self._clock: StreamClock | None = None

    def prepare(self, body: RequestBody) -> Prepared:
        data = json_object(body.json)
        model = require_model(data)
        text = data.get("input")
        if not isinstance(text, str) or not text:
            raise InvalidRequest("'input' must be a non-empty string.", param="input", code="missing_input")
        fmt = data.get("response_format") or "mp3"
        if fmt not in _FORMATS:
            raise InvalidRequest(f"'response_format' must be one of {', '.join(_FORMATS)}.", param="response_format")
        stream_format = data.get("stream_format") or "audio"
        if stream_format not in ("audio", "sse"):
            raise InvalidRequest("'stream_format' must be 'audio' or 'sse'.", param="stream_format")
        texts = [text]
        if isinstance(data.get("instructions"), str):
            texts.append(data["instructions"])
        speed = _speed(data)
        worst_seconds = Decimal(len(text)) / (MIN_CHARS_PER_S * speed)
        return Prepared(
            model=model,
            stream=stream_format == "sse",
            body=data,
            input_bound=sum(len(t.encode("utf-8")) for t in texts),
            has_output_limit=False,
            prompt_texts=texts,
            extra={
                "characters": len(text),
                "format": fmt,
                "audio_tokens_bound": math.ceil(worst_seconds * AUDIO_TOKENS_PER_S),
                "pricing": "tokens",
            },
        )

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        kind = pricing_kind(price)
        prepared.extra["pricing"] = kind
        fixed = price.per_call or Decimal(0)
        if kind == "characters":
            fixed += Decimal(prepared.extra["characters"]) * (price.per_million_characters or 0) / _MILLION
        elif kind == "minutes":
            seconds = Decimal(prepared.extra["audio_tokens_bound"]) / AUDIO_TOKENS_PER_S
            fixed += seconds / 60 * (price.per_minute or 0)
        else:
            tp = price.tokens
            if tp is None:
                raise InvalidRequest(f"The model '{prepared.model}' has no price for speech.", code="unpriced_model")
            fixed += Decimal(prepared.input_bound) * dearest(tp.input) / _MILLION
            fixed += Decimal(prepared.extra["audio_tokens_bound"]) * dearest(tp.audio_output, tp.output) / _MILLION
        return OutputBudget(fixed_usd=fixed * ratio, per_output_token_usd=Decimal(0))

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "bytes"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        return UpstreamBody(orjson.dumps({**prepared.body, "model": upstream_model}))

    def usage_from(self, prepared: Prepared, reported: dict[str, Any] | None) -> Usage:
        """The usage of an answer: reported tokens if any, else what tollway measured."""
        kind = prepared.extra["pricing"]
        if kind == "characters":
            return Usage(characters=int(prepared.extra["characters"]))
        if reported is not None:
            out = count(reported.get("output_tokens"))
            return Usage(input_tokens=count(reported.get("input_tokens")), output_tokens=out, audio_output_tokens=out)
        seconds = self._clock.seconds if self._clock is not None else None
        if kind == "minutes":
            bound = Decimal(prepared.extra["audio_tokens_bound"]) / AUDIO_TOKENS_PER_S
            return Usage(seconds=seconds if seconds is not None else bound)
        audio = (
            int(prepared.extra["audio_tokens_bound"]) if seconds is None else math.ceil(seconds * AUDIO_TOKENS_PER_S)
        )
        return Usage(
            input_tokens=estimate_text_tokens(prepared.prompt_texts), output_tokens=audio, audio_output_tokens=audio
        )

    # -- bytes mode (binary audio) --
    def byte_meter(self, prepared: Prepared) -> SpeechByteMeter:
        self._clock = StreamClock(str(prepared.extra["format"]))
        return SpeechByteMeter(self, prepared, self._clock)

    # -- sse mode (stream_format: sse) --
    def meter(self, prepared: Prepared) -> SpeechMeter:
        self._clock = StreamClock(str(prepared.extra["format"]))
        return SpeechMeter(self, prepared, self._clock)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        return self.usage_from(prepared, None)

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        return None

    def output_of(self, response: dict[str, Any]) -> int:
        return 0


class SpeechByteMeter:
    """Binary speech: forwards every byte, measuring the audio on the way (never storing it)."""

    drain_on_disconnect = False
    usage_source: str | None = "estimated"

    def __init__(self, spec: Speech, prepared: Prepared, clock: StreamClock) -> None:
        self._spec = spec
        self._prepared = prepared
        self._clock = clock

    def feed(self, chunk: bytes) -> None:
        self._clock.feed(chunk)

    def usage(self, complete: bool) -> Usage | None:
        return self._spec.usage_from(self._prepared, None)


class SpeechMeter:
    """SSE speech (``speech.audio.delta`` … ``speech.audio.done`` with usage)."""

    def __init__(self, spec: Speech, prepared: Prepared, clock: StreamClock) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._spec = spec
        self._prepared = prepared
        self._clock = clock

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None
        if data == b"[DONE]":
            self.done = True
            return event.raw
        chunk = event_object(data)
        kind = typed_event_kind(chunk, event)
        if kind == "speech.audio.delta":
            self.produced_output += 1
            try:
                self._clock.feed(base64.b64decode(str(chunk.get("audio") or ""), validate=False))
            except (binascii.Error, ValueError):
                pass
        elif kind == "speech.audio.done":
            usage = chunk.get("usage")
            self.usage = self._spec.usage_from(self._prepared, usage if isinstance(usage, dict) else None)
            self.done = True
        return event.raw
