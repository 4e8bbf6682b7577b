"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart upload, every format).

The upload is parsed strictly (``relay.multipart``: a broken body is a 400, an oversize one a 413 that
names the limit — both before any charge) and its duration measured (``audio_probe``). Billing by the
model's price:

- **per minute** (whisper-1, gpt-transcribe): the duration the upstream reports (json formats), else —
  text/srt/vtt carry no usage — the duration tollway measured. Audio tollway cannot measure is refused
  for those formats (400), never billed at a guess; for json formats it reserves its size at 8 kbit/s.
- **per token** (gpt-4o-transcribe, -mini-): the reported usage (text and audio input, text output).
  ``response_format=text`` is asked upstream as ``json`` and rendered back to plain text, so its usage
  is exact; srt/vtt (which these models reject) and answers without usage are estimated from the
  measured duration at ``AUDIO_TOKENS_PER_S_ESTIMATE``.

Streams (``stream=true``) end with ``transcript.text.done`` carrying the usage.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from tollway.errors import InvalidRequest
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.settings import Settings
from tollway.sse import SSEEvent
from tollway.tokens import estimate_text_tokens

from relay.endpoints.audio import pricing_kind
from relay.endpoints.audio_probe import probe_duration
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
from relay.endpoints.fields import count
from relay.endpoints.responses_tools import dearest
from relay.multipart import FilePart, encode_multipart

__all__ = ["AUDIO_TOKENS_PER_S_BOUND", "AUDIO_TOKENS_PER_S_ESTIMATE", "Transcriptions"]

#: Audio input tokens per second: the bound the reservation uses and the estimate used without usage.
AUDIO_TOKENS_PER_S_BOUND = 30
AUDIO_TOKENS_PER_S_ESTIMATE = 10
#: Transcript tokens per second of audio at most (fast speech is ≈ 4), plus a fixed allowance.
TEXT_TOKENS_PER_S_BOUND = 20
TEXT_TOKENS_ALLOWANCE = 512
_MILLION = Decimal(1_000_000)
_JSON_FORMATS = ("json", "verbose_json", "diarized_json")
_FORMATS = (*_JSON_FORMATS, "text", "srt", "vtt")
_TRUE = ("true", "1", "True")
_MAX_SECONDS = Decimal(10_000_000)


class Transcriptions(EndpointHooks):
    """One request's spec for ``kind`` "transcriptions" or "translations" (built per request)."""

    body_kind: BodyKind = "multipart"

    def __init__(self, kind: str, settings: Settings) -> None:
        self.name = f"audio.{kind}"
        self.upstream_path = f"/audio/{kind}"
        self._settings = settings
        self._prepared: Prepared | None = None

    def prepare(self, body: RequestBody) -> Prepared:
        form = body.form
        if form is None:
            raise InvalidRequest("Expected a multipart/form-data body.", code="invalid_content_type")
        model = form.first("model")
        if not model:
            raise InvalidRequest("'model' is required.", param="model", code="missing_model")
        files = form.files_named("file")
        if len(files) != 1 or not files[0].data:
            raise InvalidRequest("Exactly one non-empty 'file' is required.", param="file", code="missing_file")
        fmt = form.first("response_format") or "json"
        if fmt not in _FORMATS:
            raise InvalidRequest(f"'response_format' must be one of {', '.join(_FORMATS)}.", param="response_format")
        stream = (form.first("stream") or "false") in _TRUE
        prompt = form.first("prompt") or ""
        audio = files[0]
        seconds = probe_duration(audio.data)
        return Prepared(
            model=model,
            stream=stream,
            body={},
            input_bound=len(prompt.encode("utf-8")),
            has_output_limit=False,
            prompt_texts=[prompt] if prompt else [],
            form=form,
            extra={"file": audio, "format": fmt, "measured": seconds, "pricing": "tokens", "mode": "json"},
        )

    def _seconds_bound(self, prepared: Prepared) -> Decimal:
        measured: Decimal | None = prepared.extra["measured"]
        if measured is not None:
            return measured + 1  # the upstream may count a little more (padding, rounding)
        audio: FilePart = prepared.extra["file"]
        return Decimal(len(audio.data)) / Decimal(self._settings.audio_min_bytes_per_s)

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        self._prepared = prepared  # usage_of() gets only the answer
        kind = pricing_kind(price)
        fmt = prepared.extra["format"]
        prepared.extra["pricing"] = kind
        prepared.extra["mode"] = "sse" if prepared.stream else ("json" if fmt in _JSON_FORMATS else "bytes")
        if kind == "tokens" and fmt == "text" and not prepared.stream:
            prepared.extra["mode"], prepared.extra["render_text"] = "json", True
        seconds = self._seconds_bound(prepared)
        fixed = price.per_call or Decimal(0)
        if kind == "minutes":
            if prepared.extra["measured"] is None and prepared.extra["mode"] != "json":
                raise InvalidRequest(
                    f"tollway cannot measure this audio file's duration, which response_format={fmt} needs "
                    "for billing: send WAV, MP3, FLAC, OGG, M4A or WebM, or ask for json.",
                    param="file",
                    code="unmeasurable_audio",
                )
            fixed += seconds / 60 * (price.per_minute or 0)
        elif kind == "tokens":
            tp = price.tokens
            if tp is None:
                raise InvalidRequest(f"The model '{prepared.model}' has no price for audio.", code="unpriced_model")
            audio_in = math.ceil(seconds * AUDIO_TOKENS_PER_S_BOUND)
            text_out = math.ceil(seconds * TEXT_TOKENS_PER_S_BOUND) + TEXT_TOKENS_ALLOWANCE
            fixed += Decimal(prepared.input_bound) * dearest(tp.input) / _MILLION
            fixed += Decimal(audio_in) * dearest(tp.audio_input, tp.input) / _MILLION
            fixed += Decimal(text_out) * dearest(tp.output, tp.text_output) / _MILLION
        else:
            raise InvalidRequest(f"The model '{prepared.model}' is not an audio model.", param="model")
        return OutputBudget(fixed_usd=fixed * ratio, per_output_token_usd=Decimal(0))

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        mode: ResponseMode = prepared.extra["mode"]
        return mode

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        form = prepared.form
        if form is None:  # pragma: no cover - prepare() refused bodies without one
            raise InvalidRequest("Expected a multipart/form-data body.", code="invalid_content_type")
        fields: list[tuple[str, str]] = []
        for name, values in form.fields.items():
            for value in values:
                if name == "model":
                    value = upstream_model
                elif name == "response_format" and prepared.extra.get("render_text"):
                    value = "json"  # rendered back to text for the client, with usage kept
                fields.append((name, value))
        content, content_type = encode_multipart(fields, form.files)
        return UpstreamBody(content, content_type)

    # ---- metering --------------------------------------------------------------------------------

    def measured_usage(self, prepared: Prepared, text: str | None) -> Usage:
        """What tollway can tell without the upstream's usage."""
        seconds: Decimal | None = prepared.extra["measured"]
        if prepared.extra["pricing"] == "minutes":
            return Usage(seconds=seconds if seconds is not None else self._seconds_bound(prepared))
        audio = math.ceil(
            (seconds if seconds is not None else self._seconds_bound(prepared)) * AUDIO_TOKENS_PER_S_ESTIMATE
        )
        prompt = estimate_text_tokens(prepared.prompt_texts)
        out = estimate_text_tokens([text]) if text is not None else 0
        return Usage(input_tokens=prompt + audio, audio_input_tokens=audio, output_tokens=out)

    def usage_from(self, prepared: Prepared, response: dict[str, Any]) -> Usage | None:
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        if prepared.extra["pricing"] == "minutes":
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

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        if self._prepared is None:  # pragma: no cover - budget() always runs first
            return None
        return self.usage_from(self._prepared, response)

    def output_of(self, response: dict[str, Any]) -> int:
        text = response.get("text")
        return estimate_text_tokens([text]) if isinstance(text, str) else 0

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        base = self.measured_usage(prepared, None)
        if prepared.extra["pricing"] == "minutes":
            return base
        return Usage(
            input_tokens=base.input_tokens, audio_input_tokens=base.audio_input_tokens, output_tokens=output_tokens
        )

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]:
        if prepared.extra.get("render_text"):
            return str(parsed.get("text") or "").encode("utf-8"), "text/plain; charset=utf-8"
        return raw, "application/json"

    def meter(self, prepared: Prepared) -> TranscriptionMeter:
        return TranscriptionMeter(self, prepared)

    def byte_meter(self, prepared: Prepared) -> TranscriptionByteMeter:
        return TranscriptionByteMeter(self, prepared)


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

    def __init__(self, spec: Transcriptions, prepared: Prepared) -> None:
        self._spec = spec
        self._prepared = prepared
        self._text = bytearray()
        self._limit = 1 << 20

    def feed(self, chunk: bytes) -> None:
        room = self._limit - len(self._text)
        if room > 0:
            self._text += chunk[:room]

    def usage(self, complete: bool) -> Usage | None:
        return self._spec.measured_usage(self._prepared, self._text.decode("utf-8", "replace"))


class TranscriptionMeter:
    """Streamed transcription: ``transcript.text.delta`` events, then ``transcript.text.done`` with usage."""

    def __init__(self, spec: Transcriptions, prepared: Prepared) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._spec = spec
        self._prepared = prepared

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None
        if data == b"[DONE]":
            self.done = True
            return event.raw
        chunk = event_object(data)
        kind = typed_event_kind(chunk, event)
        if kind == "transcript.text.delta":
            self.produced_output += 1
        elif kind == "transcript.text.done":
            self.usage = self._spec.usage_from(self._prepared, chunk) or self._spec.measured_usage(
                self._prepared, chunk.get("text") if isinstance(chunk.get("text"), str) else None
            )
            self.done = True
        return event.raw
