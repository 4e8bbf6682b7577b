"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart upload, every format).

The upload is parsed strictly (``relay.multipart``: a broken body is a 400, an oversize one a 413 that
names the limit — both before any charge) and its duration measured (``tollway.metering.audio_probe``).
How an answer is billed, its hold and its meters are in ``tollway.metering.transcription``. What this
module decides by the model's price:

- **per minute** (whisper-1, gpt-transcribe): text/srt/vtt answers carry no usage, so audio tollway
  cannot measure is refused for those formats (400), never billed at a guess; for json formats it
  reserves its size at ``audio_min_bytes_per_s``.
- **per token** (gpt-4o-transcribe, -mini-): ``response_format=text`` is asked upstream as ``json``
  and rendered back to plain text, so its usage is exact; srt/vtt (which these models reject) and
  answers without usage are estimated from the measured duration.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tollway.errors import InvalidRequest
from tollway.metering.audio_probe import probe_duration
from tollway.metering.speech import pricing_kind
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.metering.transcription import (
    TranscriptionBill,
    TranscriptionByteMeter,
    transcription_hold,
    transcription_meter,
)
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.settings import Settings
from tollway.tokens import estimate_text_tokens

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.multipart import FilePart, encode_multipart

__all__ = ["Transcriptions"]

_JSON_FORMATS = ("json", "verbose_json", "diarized_json")
_FORMATS = (*_JSON_FORMATS, "text", "srt", "vtt")
_TRUE = ("true", "1", "True")


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
        if kind == "minutes" and prepared.extra["measured"] is None and prepared.extra["mode"] != "json":
            raise InvalidRequest(
                f"tollway cannot measure this audio file's duration, which response_format={fmt} needs "
                "for billing: send WAV, MP3, FLAC, OGG, M4A or WebM, or ask for json.",
                param="file",
                code="unmeasurable_audio",
            )
        seconds = self._seconds_bound(prepared)
        fixed = transcription_hold(price, model=prepared.model, seconds=seconds, input_bound=prepared.input_bound)
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

    # ---- metering (tollway.metering.transcription) --------------------------------------------------

    def bill(self, prepared: Prepared) -> TranscriptionBill:
        """What the answer's usage depends on (its pricing is known once the hold was computed)."""
        return TranscriptionBill(
            pricing=str(prepared.extra["pricing"]),
            measured=prepared.extra["measured"],
            seconds_bound=self._seconds_bound(prepared),
            prompt_texts=tuple(prepared.prompt_texts),
        )

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        if self._prepared is None:  # pragma: no cover - budget() always runs first
            return None
        return self.bill(self._prepared).usage_of(response)

    def output_of(self, response: dict[str, Any]) -> int:
        text = response.get("text")
        return estimate_text_tokens([text]) if isinstance(text, str) else 0

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        base = self.bill(prepared).measured_usage(None)
        if prepared.extra["pricing"] == "minutes":
            return base
        return Usage(
            input_tokens=base.input_tokens, audio_input_tokens=base.audio_input_tokens, output_tokens=output_tokens
        )

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]:
        if prepared.extra.get("render_text"):
            return str(parsed.get("text") or "").encode("utf-8"), "text/plain; charset=utf-8"
        return raw, "application/json"

    def meter(self, prepared: Prepared) -> StreamMeter:
        return transcription_meter(self.bill(prepared))

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        return TranscriptionByteMeter(self.bill(prepared))
