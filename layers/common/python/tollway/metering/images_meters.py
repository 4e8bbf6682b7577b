"""Meters for image answers: a complete JSON body forwarded byte for byte, or an SSE stream of events.

Neither holds an image: the byte meter scans the body as it passes (:mod:`tollway.metering.images_scan`)
and keeps only ``usage`` and the count of ``data`` items; the stream meter (the shared
:class:`~tollway.metering.events.EventMeter` with :class:`ImageEvents`) reads each event's ``type`` and
``usage`` the same way, and forwards the event's bytes untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tollway.metering.events import EventMeter
from tollway.metering.images_billing import ImageRequest, usage_from_images
from tollway.metering.images_scan import TopLevelScanner, scan_object
from tollway.metering.stream import StreamBroke
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent
from tollway.tokens import estimate_text_tokens

__all__ = ["Estimator", "ImageEvents", "ImagesByteMeter", "image_estimator", "images_stream_meter"]

#: The usage to bill when an upstream reports none: (images produced, partial images relayed) → Usage.
Estimator = Callable[[int, int], Usage]

_BODY_KEYS = frozenset({"usage"})
_DATA = frozenset({"data"})
_EVENT_KEYS = frozenset({"type", "usage", "error", "code", "message"})


def image_estimator(
    request: ImageRequest, per_image_tokens: int, prompt_texts: list[str], partial_tokens: int
) -> Estimator:
    """The estimate of an answer without usage: the prompt (with OpenAI's few tokens around it) and the
    input images at their bound, ``per_image_tokens`` per image made (per GIF frame), the partial images."""
    per_image = per_image_tokens * request.frames
    text = estimate_text_tokens(prompt_texts, base=6)

    def estimate(images: int, partials: int) -> Usage:
        output = images * per_image + partials * partial_tokens
        return Usage(
            input_tokens=text + request.image_input_bound,
            image_input_tokens=request.image_input_bound,
            output_tokens=output,
            image_output_tokens=output,
        )

    return estimate


def _with_images(usage: Usage, images: int, variant: str | None) -> Usage:
    return dataclasses.replace(usage, images=images, image_variant=variant)


class ImagesByteMeter:
    """Meters an ``ImagesResponse`` forwarded chunk by chunk (bounded memory whatever its size)."""

    # The images were generated (and charged upstream) before the first byte: keep reading after a
    # client left so the bill follows the upstream's usage.
    drain_on_disconnect = True
    usage_source: str | None = None

    def __init__(self, variant: str | None, estimate: Estimator) -> None:
        self._scanner = TopLevelScanner(_BODY_KEYS, _DATA)
        self._variant = variant
        self._estimate = estimate

    def feed(self, chunk: bytes) -> None:
        self._scanner.feed(chunk)

    @property
    def images(self) -> int:
        return self._scanner.counts.get("data", 0)

    def usage(self, complete: bool) -> Usage | None:
        reported = self._scanner.value("usage")
        images = self.images
        if isinstance(reported, dict):
            return _with_images(usage_from_images(reported), images, self._variant)
        if images:
            # Images without usage (a DALL·E model, or an upstream that reports none): the estimate.
            return _with_images(self._estimate(images, 0), images, self._variant)
        return None


class ImageEvents:
    """The rules of ``image_generation.*`` / ``image_edit.*`` streams: partial images counted, completed
    events' usage billed. With several images (n > 1) each completed event carries its image's usage:
    output tokens add up, while input (counted once per request) takes the largest reported. An event's
    data is scanned for its few small keys, never parsed whole (a partial image is megabytes)."""

    def __init__(self, images: int, variant: str | None, partial_tokens: int, estimate: Estimator) -> None:
        self._expected = images
        self._variant = variant
        self._partial_tokens = partial_tokens
        self._estimate = estimate
        self._partials = 0
        self._completed = 0
        self._reported: Usage | None = None

    def read(self, meter: EventMeter, data: bytes, event: SSEEvent) -> bytes | None:
        kind = event.event or ""
        if kind.endswith(".partial_image"):
            return self._partial(meter, event)
        scanned = scan_object(data, _EVENT_KEYS)
        if scanned.failed or not scanned.complete:
            raise StreamBroke("malformed event from upstream")
        kind = str(scanned.value("type") or kind)
        if kind.endswith(".partial_image"):
            return self._partial(meter, event)
        self._check_error(kind, scanned)
        if kind.endswith(".completed"):
            self._completed += 1
            reported = scanned.value("usage")
            usage = usage_from_images(reported) if isinstance(reported, dict) else self._estimate(1, 0)
            meter.usage = self._add(usage)
            if self._completed >= self._expected:
                meter.done = True
        return event.raw

    def _partial(self, meter: EventMeter, event: SSEEvent) -> bytes:
        self._partials += 1
        meter.produced_output += self._partial_tokens  # output tokens of the partial images (for an estimate)
        return event.raw

    def _check_error(self, kind: str, scanned: TopLevelScanner) -> None:
        error = scanned.value("error")
        if isinstance(error, dict):
            raise StreamBroke("upstream error mid-stream", error)
        if kind == "error" or kind.endswith(".failed"):
            detail: dict[str, Any] = {"message": scanned.value("message"), "code": scanned.value("code")}
            raise StreamBroke("upstream error mid-stream", detail if detail["message"] else None)

    def _add(self, usage: Usage) -> Usage:
        """The usage of the images completed so far, with ``usage`` added."""
        before = self._reported
        if before is None:
            self._reported = usage
        else:
            self._reported = Usage(
                input_tokens=max(before.input_tokens, usage.input_tokens),
                cached_tokens=max(before.cached_tokens, usage.cached_tokens),
                image_input_tokens=max(before.image_input_tokens, usage.image_input_tokens),
                output_tokens=before.output_tokens + usage.output_tokens,
                image_output_tokens=before.image_output_tokens + usage.image_output_tokens,
            )
        extra = self._partials * self._partial_tokens
        total = self._reported
        return dataclasses.replace(
            total,
            output_tokens=total.output_tokens + extra,
            image_output_tokens=total.image_output_tokens + extra,
            images=self._completed,
            image_variant=self._variant,
        )


def images_stream_meter(images: int, variant: str | None, partial_tokens: int, estimate: Estimator) -> EventMeter:
    """The meter of an image stream that makes ``images`` images (see :class:`ImageEvents`)."""
    return EventMeter(ImageEvents(images, variant, partial_tokens, estimate))
