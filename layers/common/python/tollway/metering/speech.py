"""Text-to-speech: how a speech answer is billed, and its two meters (binary audio and SSE events).

Billing follows the model's price:

- per input character (tts-1, tts-1-hd): the characters of ``input``, known before the call;
- per token (gpt-4o-mini-tts): text input tokens plus audio output tokens. The SSE form reports them
  (``speech.audio.done``); a binary answer does not, so tollway measures the audio it forwarded
  (:mod:`tollway.metering.audio_clock`) and converts at ``AUDIO_TOKENS_PER_S`` ($12 per 1M audio tokens
  is ≈ $0.015 per minute, i.e. 1,250 tokens a minute); a format it cannot measure (flac) is billed at
  the reserved bound;
- per minute: the measured seconds, else the bound.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tollway.errors import InvalidRequest
from tollway.metering.audio_clock import StreamClock
from tollway.metering.events import EventMeter, TypedEvents
from tollway.metering.fields import count
from tollway.metering.prices import MILLION, dearest
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens

__all__ = [
    "AUDIO_TOKENS_PER_S",
    "MIN_CHARS_PER_S",
    "SpeechBill",
    "SpeechByteMeter",
    "pricing_kind",
    "speech_hold",
    "speech_meter",
]

AUDIO_TOKENS_PER_S = Decimal(1250) / Decimal(60)
#: The slowest speech the worst case assumes, in characters a second at speed 1.
MIN_CHARS_PER_S = Decimal(5)


def pricing_kind(price: ModelPrice) -> str:
    """How an audio model is billed: "characters", "minutes" or "tokens"."""
    if price.per_million_characters is not None:
        return "characters"
    if price.per_minute is not None:
        return "minutes"
    return "tokens"


def speech_hold(
    price: ModelPrice, *, model: str, characters: int, input_bound: int, audio_tokens_bound: int
) -> Decimal:
    """The most a speech request may cost (USD, before the group's ratio): per character, exactly its
    characters; per minute or token, ``audio_tokens_bound`` of audio (and ``input_bound`` input tokens).

    Raises:
        InvalidRequest: a token-billed model without token prices.
    """
    kind = pricing_kind(price)
    fixed = price.per_call or Decimal(0)
    if kind == "characters":
        fixed += Decimal(characters) * (price.per_million_characters or 0) / MILLION
    elif kind == "minutes":
        seconds = Decimal(audio_tokens_bound) / AUDIO_TOKENS_PER_S
        fixed += seconds / 60 * (price.per_minute or 0)
    else:
        tp = price.tokens
        if tp is None:
            raise InvalidRequest(f"The model '{model}' has no price for speech.", code="unpriced_model")
        fixed += Decimal(input_bound) * dearest(tp.input) / MILLION
        fixed += Decimal(audio_tokens_bound) * dearest(tp.audio_output, tp.output) / MILLION
    return fixed


@dataclass(frozen=True, slots=True)
class SpeechBill:
    """What the usage of one speech request depends on (``pricing`` as :func:`pricing_kind` says)."""

    pricing: str
    characters: int
    audio_tokens_bound: int  # the audio output tokens the hold paid for
    prompt_texts: tuple[str, ...]

    def usage(self, reported: dict[str, Any] | None, seconds: Decimal | None) -> Usage:
        """The usage of an answer: reported tokens if any, else what tollway measured (``seconds``)."""
        if self.pricing == "characters":
            return Usage(characters=self.characters)
        if reported is not None:
            out = count(reported.get("output_tokens"))
            return Usage(input_tokens=count(reported.get("input_tokens")), output_tokens=out, audio_output_tokens=out)
        if self.pricing == "minutes":
            bound = Decimal(self.audio_tokens_bound) / AUDIO_TOKENS_PER_S
            return Usage(seconds=seconds if seconds is not None else bound)
        audio = self.audio_tokens_bound if seconds is None else math.ceil(seconds * AUDIO_TOKENS_PER_S)
        return Usage(
            input_tokens=estimate_text_tokens(self.prompt_texts), output_tokens=audio, audio_output_tokens=audio
        )


class SpeechByteMeter:
    """Binary speech: forwards every byte, measuring the audio on the way (never storing it)."""

    drain_on_disconnect = False
    usage_source: str | None = "estimated"

    def __init__(self, bill: SpeechBill, clock: StreamClock) -> None:
        self._bill = bill
        self._clock = clock

    def feed(self, chunk: bytes) -> None:
        self._clock.feed(chunk)

    def usage(self, complete: bool) -> Usage | None:
        return self._bill.usage(None, self._clock.seconds)


def speech_meter(bill: SpeechBill, clock: StreamClock) -> EventMeter:
    """SSE speech: ``speech.audio.delta`` events (their audio measured), then ``speech.audio.done`` with
    the usage."""

    def measure(chunk: dict[str, Any]) -> None:
        try:
            clock.feed(base64.b64decode(str(chunk.get("audio") or ""), validate=False))
        except (binascii.Error, ValueError):
            pass  # undecodable audio is not measured; the reported usage (or the bound) bills it

    def usage(chunk: dict[str, Any]) -> Usage:
        reported = chunk.get("usage")
        return bill.usage(reported if isinstance(reported, dict) else None, clock.seconds)

    return EventMeter(TypedEvents(delta="speech.audio.delta", done="speech.audio.done", usage=usage, on_delta=measure))
