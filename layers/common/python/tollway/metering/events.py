"""The shared meter of OpenAI's event streams: ``data: {json}`` events, ended by ``data: [DONE]``.

Every such stream is read the same way — comments dropped (tollway sends its own heartbeats), ``[DONE]``
ends it, anything but a JSON object or an error event breaks it (uncharged) — and differs only in which
events carry output and which carry the usage. :class:`EventMeter` does the first part; its
:class:`EventRules` the rest, with the per-endpoint differences as data:

- :class:`TypedEvents` — *typed* streams (speech ``speech.audio.*``, transcription ``transcript.text.*``):
  one delta kind counts output, one done kind brings the usage and ends the stream;
- :class:`Chunks` — *chunk* streams (chat and legacy completions): every chunk may carry output in its
  ``choices`` and the last one the usage; tollway always asks for that usage chunk and hides it again
  from a client that did not;
- image streams (``image_generation.*``) have rules of their own in
  :mod:`tollway.metering.images_meters` (their events are megabytes: scanned, never parsed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tollway.metering.stream import OpenAIStreamEnd, StreamBroke, event_object, typed_event_kind
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent

__all__ = ["Chunks", "EventMeter", "EventRules", "TypedEvents"]


class EventRules(Protocol):
    """What one kind of stream makes of an event's data (neither a comment nor ``[DONE]``)."""

    def read(self, meter: EventMeter, data: bytes, event: SSEEvent) -> bytes | None:
        """Update ``meter`` (usage, done, produced output); the bytes to forward, or None to drop the event.

        Raises:
            StreamBroke: the event is malformed or reports an upstream error.
        """


@dataclass(frozen=True, slots=True)
class TypedEvents:
    """A typed stream: ``delta`` events count output (and are shown to ``on_delta``, e.g. to measure
    audio); the ``done`` event ends the stream and ``usage`` turns it into the billing usage."""

    delta: str
    done: str
    usage: Callable[[dict[str, Any]], Usage]
    on_delta: Callable[[dict[str, Any]], None] | None = None

    def read(self, meter: EventMeter, data: bytes, event: SSEEvent) -> bytes | None:
        chunk = event_object(data)
        kind = typed_event_kind(chunk, event)
        if kind == self.delta:
            meter.produced_output += 1
            if self.on_delta is not None:
                self.on_delta(chunk)
        elif kind == self.done:
            meter.usage = self.usage(chunk)
            meter.done = True
        return event.raw


@dataclass(frozen=True, slots=True)
class Chunks:
    """A chunk stream: ``produced`` counts the output of one chunk's choice, ``usage`` reads a chunk's
    usage object (the chunk is given too, for its ``service_tier``); ``client_wants_usage`` keeps the
    usage chunk the relay asked for in the client's stream."""

    produced: Callable[[dict[str, Any]], bool]
    usage: Callable[[dict[str, Any], dict[str, Any]], Usage]
    client_wants_usage: bool

    def read(self, meter: EventMeter, data: bytes, event: SSEEvent) -> bytes | None:
        # event_object inlined: this runs for every chunk of every chat stream.
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StreamBroke("malformed event from upstream") from exc
        if not isinstance(chunk, dict):
            raise StreamBroke("malformed event from upstream")
        error = chunk.get("error")
        if error:
            raise StreamBroke("upstream error mid-stream", error if isinstance(error, dict) else None)
        choices = chunk.get("choices") or []
        if isinstance(choices, list):  # any other shape an upstream sends carries no output
            produced = self.produced
            for choice in choices:
                if isinstance(choice, dict) and produced(choice):
                    meter.produced_output += 1
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            meter.usage = self.usage(usage, chunk)
            if not self.client_wants_usage:
                if not choices:
                    return None  # the usage chunk tollway asked for on the client's behalf
                chunk.pop("usage", None)
                return b"data: " + orjson.dumps(chunk) + b"\n\n"
        return event.raw


class EventMeter(OpenAIStreamEnd):
    """Meters one OpenAI event stream read by ``rules``."""

    def __init__(self, rules: EventRules) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self._rules = rules

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None  # upstream comments; tollway sends its own heartbeats
        if data == b"[DONE]":
            self.done = True
            return event.raw
        return self._rules.read(self, data, event)
