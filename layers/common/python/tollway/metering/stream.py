"""What every meter is, and the event helpers the SSE meters share.

A *stream meter* reads one upstream SSE event at a time, returns the bytes the client gets, and keeps
the usage the request is billed by; a *byte meter* reads a body forwarded chunk by chunk (audio, a large
JSON answer) in bounded memory. Both are pure: no I/O, no clock, no settings — the relay function feeds
them and settles what they found.

A stream meter also says how its client's stream ends when the upstream did not end it properly
(``tail``) and how the client learns that the upstream broke (``broken``). OpenAI-format meters inherit
:class:`OpenAIStreamEnd` for both; the Claude meters write Claude events.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, encode_error

__all__ = [
    "DONE",
    "ByteMeter",
    "OpenAIStreamEnd",
    "StreamBroke",
    "StreamMeter",
    "event_object",
    "typed_event_kind",
]

#: The terminator of an OpenAI event stream.
DONE = b"data: [DONE]\n\n"


class StreamBroke(Exception):
    """The upstream stream is malformed or reported an error; ``error`` is its error object, if any
    (what the client is told). A broken stream is not charged."""

    def __init__(self, message: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error = error


class StreamMeter(Protocol):
    """Meters an SSE stream event by event (see the module docstring)."""

    usage: Usage | None  # the billing usage, once the upstream reported it
    done: bool  # the upstream's stream ended properly
    produced_output: int  # output tokens seen so far (at least one per delta), for an estimate

    def on_event(self, event: SSEEvent) -> bytes | None:
        """Bytes to forward for this event (possibly rewritten), or None to drop it.

        Raises:
            StreamBroke: the event is malformed or reports an upstream error.
        """

    def tail(self) -> bytes:
        """What ends the client's stream when the upstream ended after its usage but without its end."""

    def broken(self, message: str, error: dict[str, Any] | None) -> bytes:
        """The last bytes the client gets when the upstream broke (``error``: the upstream's, scrubbed)."""


class ByteMeter(Protocol):
    """Meters a body forwarded byte for byte (never holding more than a bounded buffer)."""

    drain_on_disconnect: bool  # keep reading (without forwarding) after the client left, to learn usage
    # The record's usage_source when set (a meter that measures what it forwards, e.g. speech audio, says
    # "estimated"); None: "upstream" for a complete body, "estimated" for a cut one.
    usage_source: str | None

    def feed(self, chunk: bytes) -> None: ...

    def usage(self, complete: bool) -> Usage | None:
        """The usage of what was forwarded; ``complete`` tells whether the upstream body ended normally."""


class OpenAIStreamEnd:
    """How an OpenAI-format stream ends on the upstream's behalf: ``[DONE]``, or an error event (the
    OpenAI SDKs raise it) carrying the upstream's message and code when it sent them."""

    def tail(self) -> bytes:
        return DONE

    def broken(self, message: str, error: dict[str, Any] | None) -> bytes:
        body: dict[str, Any] = {
            "error": {"message": message, "type": "upstream_error", "param": None, "code": "upstream_error"}
        }
        if error:
            body["error"]["message"] = str(error.get("message") or message)
            body["error"]["code"] = error.get("code") or "upstream_error"
        return encode_error(body)


def event_object(data: bytes) -> dict[str, Any]:
    """One SSE event's data as a JSON object; anything else breaks the stream (it is not charged)."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StreamBroke("malformed event from upstream") from exc
    if not isinstance(chunk, dict):
        raise StreamBroke("malformed event from upstream")
    return chunk


def typed_event_kind(chunk: dict[str, Any], event: SSEEvent) -> str | None:
    """A typed event's kind (its ``type``, else the SSE event name); an error event breaks the stream."""
    kind = chunk.get("type") or event.event
    if kind == "error" or chunk.get("error"):
        error = chunk.get("error")
        raise StreamBroke("upstream error mid-stream", error if isinstance(error, dict) else None)
    return str(kind) if kind is not None else None
