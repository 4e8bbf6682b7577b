"""Meters for image answers: a complete JSON body forwarded byte for byte, or an SSE stream of events.

Neither holds an image: the byte meter scans the body as it passes (:mod:`images_scan`) and keeps only
``usage`` and the count of ``data`` items; the stream meter reads each event's ``type`` and ``usage``
the same way, and forwards the event's bytes untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent

from relay.endpoints.base import BrokenStream
from relay.endpoints.images_billing import usage_from_images
from relay.endpoints.images_scan import TopLevelScanner, scan_object

__all__ = ["ImagesByteMeter", "ImagesStreamMeter", "Estimator"]

#: The usage to bill when an upstream reports none: (images produced, partial images relayed) → Usage.
Estimator = Callable[[int, int], Usage]

_BODY_KEYS = frozenset({"usage"})
_DATA = frozenset({"data"})
_EVENT_KEYS = frozenset({"type", "usage", "error", "code", "message"})


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


class ImagesStreamMeter:
    """Meters ``image_generation.*`` / ``image_edit.*`` events: counts partial images, bills completed
    events' usage. With several images (n > 1) each completed event carries its image's usage: output
    tokens add up, while input (counted once per request) takes the largest reported."""

    def __init__(self, images: int, variant: str | None, partial_tokens: int, estimate: Estimator) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0  # output tokens of the partial images relayed (for an estimate)
        self._expected = images
        self._variant = variant
        self._partial_tokens = partial_tokens
        self._estimate = estimate
        self._partials = 0
        self._completed = 0
        self._reported: Usage | None = None

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None  # upstream comments; tollway sends its own heartbeats
        if data == b"[DONE]":
            self.done = True
            return event.raw
        kind = event.event or ""
        if kind.endswith(".partial_image"):
            return self._partial(event)
        scanned = scan_object(data, _EVENT_KEYS)
        if scanned.failed or not scanned.complete:
            raise BrokenStream("malformed event from upstream")
        kind = str(scanned.value("type") or kind)
        if kind.endswith(".partial_image"):
            return self._partial(event)
        self._check_error(kind, scanned)
        if kind.endswith(".completed"):
            self._completed += 1
            reported = scanned.value("usage")
            usage = usage_from_images(reported) if isinstance(reported, dict) else self._estimate(1, 0)
            self._add(usage)
            if self._completed >= self._expected:
                self.done = True
        return event.raw

    def _partial(self, event: SSEEvent) -> bytes:
        self._partials += 1
        self.produced_output += self._partial_tokens
        return event.raw

    def _check_error(self, kind: str, scanned: TopLevelScanner) -> None:
        error = scanned.value("error")
        if isinstance(error, dict):
            raise BrokenStream("upstream error mid-stream", error)
        if kind == "error" or kind.endswith(".failed"):
            detail: dict[str, Any] = {"message": scanned.value("message"), "code": scanned.value("code")}
            raise BrokenStream("upstream error mid-stream", detail if detail["message"] else None)

    def _add(self, usage: Usage) -> None:
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
        self.usage = dataclasses.replace(
            total,
            output_tokens=total.output_tokens + extra,
            image_output_tokens=total.image_output_tokens + extra,
            images=self._completed,
            image_variant=self._variant,
        )
