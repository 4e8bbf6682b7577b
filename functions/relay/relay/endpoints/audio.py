"""``POST /v1/audio/speech``: binary audio streamed back chunk by chunk (or SSE with ``stream_format``).

How an answer is billed (per character, per token, per minute), its hold and its meters are in
``tollway.metering.speech``. This spec measures what the hold depends on: per character, the characters
of ``input`` (known before the call: the reservation is the charge); per token or minute, speech no
faster than ``MIN_CHARS_PER_S`` characters a second at the requested ``speed``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.metering.audio_clock import StreamClock
from tollway.metering.speech import (
    AUDIO_TOKENS_PER_S,
    MIN_CHARS_PER_S,
    SpeechBill,
    SpeechByteMeter,
    pricing_kind,
    speech_hold,
    speech_meter,
)
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.fields import json_object, require_model

__all__ = ["Speech"]

_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")


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
        prepared.extra["pricing"] = pricing_kind(price)
        fixed = speech_hold(
            price,
            model=prepared.model,
            characters=int(prepared.extra["characters"]),
            input_bound=prepared.input_bound,
            audio_tokens_bound=int(prepared.extra["audio_tokens_bound"]),
        )
        return OutputBudget(fixed_usd=fixed * ratio, per_output_token_usd=Decimal(0))

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "bytes"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        return UpstreamBody(orjson.dumps({**prepared.body, "model": upstream_model}))

    @staticmethod
    def bill(prepared: Prepared) -> SpeechBill:
        """What the answer's usage depends on (its pricing is known once the hold was computed)."""
        return SpeechBill(
            pricing=str(prepared.extra["pricing"]),
            characters=int(prepared.extra["characters"]),
            audio_tokens_bound=int(prepared.extra["audio_tokens_bound"]),
            prompt_texts=tuple(prepared.prompt_texts),
        )

    # -- bytes mode (binary audio) --
    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        self._clock = StreamClock(str(prepared.extra["format"]))
        return SpeechByteMeter(self.bill(prepared), self._clock)

    # -- sse mode (stream_format: sse) --
    def meter(self, prepared: Prepared) -> StreamMeter:
        self._clock = StreamClock(str(prepared.extra["format"]))
        return speech_meter(self.bill(prepared), self._clock)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        return self.bill(prepared).usage(None, self._clock.seconds if self._clock is not None else None)

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        return None

    def output_of(self, response: dict[str, Any]) -> int:
        return 0
