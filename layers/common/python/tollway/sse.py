"""Server-sent events: an incremental, bounded parser and the encoders the relay sends.

The parser turns arbitrary network chunks into whole events without ever holding more than
``max_event_bytes`` of an unfinished event: an upstream that never ends a line cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["HEARTBEAT", "SSEError", "SSEEvent", "SSEParser", "encode_data", "encode_error"]

HEARTBEAT = b": ping\n\n"


class SSEError(ValueError):
    """The upstream's event stream is broken (an event over the size limit)."""


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building one
# event cost ~2.5× as much; nothing mutates or hashes an event.
@dataclass(slots=True)
class SSEEvent:
    """One event: ``block`` is its text without the blank-line terminator."""

    block: bytes
    event: str | None
    data: bytes | None
    #: ``block`` with its terminator, when the parser had it whole (a chunk that is one event): forwarding
    #: an unchanged event then costs no copy.
    framed: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def raw(self) -> bytes:
        """The event as forwarded: ``block`` and the blank line that ends it."""
        framed = self.framed
        return framed if framed is not None else self.block + b"\n\n"

    @property
    def is_comment(self) -> bool:
        return self.data is None and self.event is None


def _parse_block(block: bytes, framed: bytes | None = None) -> SSEEvent:
    if b"\n" not in block and block.startswith(b"data:"):
        # One data line (every event of an OpenAI stream): what the general loop below makes of it.
        return SSEEvent(block, None, block[6:] if block.startswith(b"data: ") else block[5:], framed)
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
    return SSEEvent(block, event, b"\n".join(data) if data else None, framed)


class SSEParser:
    def __init__(self, max_event_bytes: int = 8 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for a terminator
        self._max = max_event_bytes
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Events completed by ``chunk`` (in order).

        Raises:
            SSEError: an unfinished event grew past the limit.
        """
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._pending_cr = True
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        if not buf:
            end = chunk.find(b"\n\n")
            if end >= 0 and end == len(chunk) - 2:
                # The chunk is exactly one event, the way upstreams write them (or a lone blank line).
                self._scanned = 0
                return [_parse_block(chunk[:-2], chunk)] if end else []
            # Nothing buffered (an upstream usually writes whole events): splitting on the terminator finds
            # the blocks the search below would — left to right, never overlapping — and its last piece is
            # the unfinished rest, without first copying the chunk into the buffer.
            *blocks, rest = chunk.split(b"\n\n")
            if rest:
                buf += rest
            self._scanned = len(rest)
            if len(rest) > self._max:
                raise SSEError(f"an upstream event exceeded {self._max} bytes")
            return [_parse_block(block) for block in blocks if block]
        # Append and search only what was not searched yet (one byte back: "\n\n" may straddle chunks), so
        # an event arriving in many chunks (a multi-megabyte image) costs linear, not quadratic, time.
        buf += chunk
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", max(start, self._scanned - 1))
            if end < 0:
                break
            block = bytes(buf[start:end])
            start = end + 2
            if block:
                events.append(_parse_block(block))
        if start:
            del buf[:start]
        self._scanned = len(buf)
        if len(buf) > self._max:
            raise SSEError(f"an upstream event exceeded {self._max} bytes")
        return events

    def flush(self) -> list[SSEEvent]:
        """An unterminated final event, if any (upstream closed without the blank line)."""
        block = bytes(self._buf).strip(b"\n")
        self._buf = bytearray()
        self._scanned = 0
        return [_parse_block(block)] if block else []


def encode_data(obj: Any) -> bytes:
    """``data: <json>\\n\\n``."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def encode_error(body: dict[str, Any]) -> bytes:
    """A final error event, the way OpenAI's SDKs recognise it (a data object with an ``error`` key)."""
    return encode_data(body)
