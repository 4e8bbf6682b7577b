"""Speech-to-text (transcriptions and translations): the usage of an answer, and its meters.

- **per minute** (whisper-1, gpt-transcribe): the duration the upstream reports (json formats), else —
  text/srt/vtt carry no usage — the duration tollway measured (or its bound);
- **per token** (gpt-4o-transcribe, -mini-): the reported usage (text and audio input, text output);
  answers without usage are estimated from the measured duration at ``AUDIO_TOKENS_PER_S_ESTIMATE``.

Streams (``stream=true``) end with ``transcript.text.done`` carrying the usage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tollway.errors import InvalidRequest
from tollway.metering.events import EventMeter, TypedEvents
from tollway.metering.fields import count
from tollway.metering.prices import MILLION, dearest
from tollway.metering.speech import pricing_kind
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens

__all__ = [
    "AUDIO_TOKENS_PER_S_BOUND",
    "AUDIO_TOKENS_PER_S_ESTIMATE",
    "TEXT_TOKENS_ALLOWANCE",
    "TEXT_TOKENS_PER_S_BOUND",
    "TranscriptionBill",
    "TranscriptionByteMeter",
    "transcription_hold",
    "transcription_meter",
]

#: Audio input tokens per second: the bound the reservation uses and the estimate used without usage.
AUDIO_TOKENS_PER_S_BOUND = 30
AUDIO_TOKENS_PER_S_ESTIMATE = 10
#: Transcript tokens per second of audio at most (fast speech is ≈ 4), plus a fixed allowance.
TEXT_TOKENS_PER_S_BOUND = 20
TEXT_TOKENS_ALLOWANCE = 512
_MAX_SECONDS = Decimal(10_000_000)
#: Text of a text/srt/vtt answer kept for the output estimate (the rest is forwarded, not counted).
_TEXT_LIMIT = 1 << 20


def transcription_hold(price: ModelPrice, *, model: str, seconds: Decimal, input_bound: int) -> Decimal:
    """The most a transcription of at most ``seconds`` of audio may cost (USD, before the group's ratio):
    per minute, those seconds; per token, the prompt (``input_bound``), ``AUDIO_TOKENS_PER_S_BOUND``
    audio tokens a second in and ``TEXT_TOKENS_PER_S_BOUND`` transcript tokens a second (plus an
    allowance) out.

    Raises:
        InvalidRequest: not an audio model, or a token-billed one without token prices.
    """
    kind = pricing_kind(price)
    fixed = price.per_call or Decimal(0)
    if kind == "minutes":
        return fixed + seconds / 60 * (price.per_minute or 0)
    if kind != "tokens":
        raise InvalidRequest(f"The model '{model}' is not an audio model.", param="model")
    tp = price.tokens
    if tp is None:
        raise InvalidRequest(f"The model '{model}' has no price for audio.", code="unpriced_model")
    audio_in = math.ceil(seconds * AUDIO_TOKENS_PER_S_BOUND)
    text_out = math.ceil(seconds * TEXT_TOKENS_PER_S_BOUND) + TEXT_TOKENS_ALLOWANCE
    fixed += Decimal(input_bound) * dearest(tp.input) / MILLION
    fixed += Decimal(audio_in) * dearest(tp.audio_input, tp.input) / MILLION
    fixed += Decimal(text_out) * dearest(tp.output, tp.text_output) / MILLION
    return fixed


@dataclass(frozen=True, slots=True)
class TranscriptionBill:
    """What the usage of one transcription depends on: its ``pricing`` ("minutes" or "tokens"), the
    duration tollway ``measured`` (None: unreadable audio) and the ``seconds_bound`` used instead."""

    pricing: str
    measured: Decimal | None
    seconds_bound: Decimal
    prompt_texts: tuple[str, ...]

    def measured_usage(self, text: str | None) -> Usage:
        """What tollway can tell without the upstream's usage (``text``: the transcript, if known)."""
        seconds = self.measured if self.measured is not None else self.seconds_bound
        if self.pricing == "minutes":
            return Usage(seconds=seconds)
        audio = math.ceil(seconds * AUDIO_TOKENS_PER_S_ESTIMATE)
        prompt = estimate_text_tokens(self.prompt_texts)
        out = estimate_text_tokens([text]) if text is not None else 0
        return Usage(input_tokens=prompt + audio, audio_input_tokens=audio, output_tokens=out)

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        """The usage an answer (or a ``transcript.text.done`` event) reports, None without one."""
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        if self.pricing == "minutes":
            seconds = _seconds(usage.get("seconds")) if usage.get("type") == "duration" else None
            seconds = seconds if seconds is not None else _seconds(response.get("duration"))
            return Usage(seconds=seconds) if seconds is not None else None
        if usage.get("type") == "tokens" or "input_tokens" in usage:
            details = usage.get("input_token_details") or usage.get("input_tokens_details")
            details = details if isinstance(details, dict) else {}  # an upstream's odd shape: no breakdown
            return Usage(
                input_tokens=count(usage.get("input_tokens")),
                audio_input_tokens=count(details.get("audio_tokens")),
                output_tokens=count(usage.get("output_tokens")),
            )
        return None


def _seconds(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        return None
    # A duration past ~115 days is no audio file's (and would not fit a stored number): not credible.
    return seconds if seconds.is_finite() and 0 <= seconds <= _MAX_SECONDS else None


class TranscriptionByteMeter:
    """text/srt/vtt answers: forwarded as they come; billed from tollway's own measurement."""

    drain_on_disconnect = False
    usage_source: str | None = "estimated"

    def __init__(self, bill: TranscriptionBill) -> None:
        self._bill = bill
        self._text = bytearray()

    def feed(self, chunk: bytes) -> None:
        room = _TEXT_LIMIT - len(self._text)
        if room > 0:
            self._text += chunk[:room]

    def usage(self, complete: bool) -> Usage | None:
        return self._bill.measured_usage(self._text.decode("utf-8", "replace"))


def transcription_meter(bill: TranscriptionBill) -> EventMeter:
    """A streamed transcription: ``transcript.text.delta`` events, then ``transcript.text.done`` with the
    usage (else the measured usage and the transcript's estimate)."""

    def usage(chunk: dict[str, Any]) -> Usage:
        text = chunk.get("text")
        return bill.usage_of(chunk) or bill.measured_usage(text if isinstance(text, str) else None)

    return EventMeter(TypedEvents(delta="transcript.text.delta", done="transcript.text.done", usage=usage))
