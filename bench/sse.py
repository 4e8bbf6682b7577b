"""Time-stamped SSE events from raw chunks as they arrived (shared by the load generator and the chunk tap)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["TimedEvent", "content_token", "timed_events", "token_times"]

# A token chunk carries a non-empty content delta, e.g. "delta":{"content":" lorem"}; the role chunk's is "".
_CONTENT = re.compile(rb'"content":\s*"[^"]')
_ID = re.compile(rb'"id":\s*"([^"]+)"')


@dataclass(frozen=True, slots=True)
class TimedEvent:
    t: float  # when the byte that completed the event arrived
    data: bytes  # the event's bytes, without the blank line

    @property
    def chat_id(self) -> str | None:
        found = _ID.search(self.data)
        return found.group(1).decode() if found else None


def content_token(event: TimedEvent) -> bool:
    return _CONTENT.search(event.data) is not None


def timed_events(chunks: Iterable[tuple[float, bytes]]) -> list[TimedEvent]:
    """Split a byte stream received as (arrival time, bytes) chunks into SSE events (blank-line
    separated). An event's time is the arrival of the chunk that completed it."""
    events: list[TimedEvent] = []
    buffer = b""
    for t, chunk in chunks:
        buffer += chunk
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            raw, buffer = buffer[:end], buffer[end + 2 :]
            if raw.strip():
                events.append(TimedEvent(t, raw))
    return events


def token_times(events: Sequence[TimedEvent]) -> list[float]:
    """Arrival times of the content-token events, in order."""
    return [e.t for e in events if content_token(e)]
