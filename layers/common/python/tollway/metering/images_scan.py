"""Reads chosen top-level values of a JSON object as it streams past, holding only those values.

An image answer is ``{"created", "data": [{"b64_json": "<megabytes>"}, …], …, "usage": {…}}``. The relay
forwards it chunk by chunk and must still learn ``usage`` (wherever the upstream put it) and how many
images ``data`` held, without keeping the images. The scanner tracks only the JSON structure: it jumps
over string contents with ``bytes.find`` (C speed, so a 30 MB body costs a few milliseconds), copies
the bytes of the wanted top-level values (each bounded), and counts the objects in chosen top-level
arrays. It never raises: a body that is not a JSON object simply yields nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["TopLevelScanner", "scan_object"]

_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN = frozenset(b"{[")
_CLOSE = frozenset(b"}]")
_STRUCTURAL = frozenset(b'{}[]",:')
_MAX_KEY_BYTES = 256


class TopLevelScanner:
    """Feed chunks of one JSON object; read ``values`` (raw bytes of the wanted keys) and ``counts``."""

    def __init__(
        self, keys: frozenset[str], count_items_of: frozenset[str] = frozenset(), max_value_bytes: int = 65_536
    ) -> None:
        self._keys = keys
        self._count = count_items_of
        self._max = max_value_bytes
        self.values: dict[str, bytes] = {}
        self.counts: dict[str, int] = {}
        self.complete = False  # the top-level object closed
        self.failed = False  # the body is not a JSON object
        self._started = False
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._expect_key = False
        self._key: bytearray | None = None  # the top-level key being read
        self._pending: bytes | None = None  # a top-level key read, waiting for its ':'
        self._current: str | None = None  # the top-level key whose value is being read
        self._capture: bytearray | None = None
        self._cap_start = 0

    def value(self, key: str) -> Any:
        """The parsed value of a wanted key, or None (absent, too large, or not JSON)."""
        raw = self.values.get(key)
        if raw is None:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None

    def feed(self, chunk: bytes) -> None:
        if self.complete or self.failed:
            return
        i, n = 0, len(chunk)
        self._cap_start = 0
        while i < n:
            if self._in_string:
                i = self._in_str(chunk, i, n)
                continue
            c = chunk[i]
            if c not in _STRUCTURAL:
                i += 1
                continue
            i += 1
            if not self._structural(c, chunk, i):
                return
        if self._capture is not None:
            self._append(chunk[self._cap_start :])

    def _structural(self, c: int, chunk: bytes, i: int) -> bool:
        """Apply one structural character (``i`` is just after it); False when scanning is over."""
        if c == _QUOTE:
            self._in_string = True
            if self._depth == 1 and self._expect_key:
                self._key = bytearray()
                self._expect_key = False
        elif c in _OPEN:
            if self._depth == 0:
                if c != 0x7B or self._started:
                    self.failed = True
                    return False
                self._started = True
                self._expect_key = True
            elif self._depth == 2 and c == 0x7B and self._current in self._count:
                self.counts[self._current] = self.counts.get(self._current, 0) + 1
            self._depth += 1
        elif c in _CLOSE:
            self._depth -= 1
            if self._depth <= 0:
                self._end_value(chunk, i - 1)
                self.complete = True
                return False
        elif c == 0x3A:  # ':'
            if self._depth == 1 and self._pending is not None:
                self._start_value(self._pending)
                self._pending = None
                self._cap_start = i
        elif c == 0x2C and self._depth == 1:  # ','
            self._end_value(chunk, i - 1)
            self._expect_key = True
        return True

    def _in_str(self, chunk: bytes, i: int, n: int) -> int:
        """Consume string content from ``i``; return the next position."""
        if self._escape:
            self._escape = False
            if self._key is not None:
                self._key += chunk[i : i + 1]
            return i + 1
        quote = chunk.find(b'"', i)
        end = n if quote < 0 else quote
        backslash = chunk.find(b"\\", i, end)
        if backslash >= 0:
            if self._key is not None:
                self._key += chunk[i : backslash + 1]
            self._escape = True
            return backslash + 1
        if self._key is not None:
            self._key += chunk[i:end]
        if quote < 0:
            return n
        self._in_string = False
        if self._key is not None:
            key = bytes(self._key)
            self._key = None
            self._pending = key if len(key) <= _MAX_KEY_BYTES else None
        return quote + 1

    def _start_value(self, raw_key: bytes) -> None:
        try:
            key = orjson.loads(b'"' + raw_key + b'"')
        except orjson.JSONDecodeError:
            key = None
        self._current = key if isinstance(key, str) else None
        if self._current in self._keys:
            self._capture = bytearray()
        if self._current in self._count:
            self.counts.setdefault(self._current, 0)

    def _append(self, data: bytes) -> None:
        capture = self._capture
        if capture is None:
            return
        if len(capture) + len(data) > self._max:
            self._capture = None  # too large to be what we look for: forget it
            return
        capture += data

    def _end_value(self, chunk: bytes, end: int) -> None:
        if self._capture is not None:
            self._append(chunk[self._cap_start : end])
            if self._capture is not None and self._current is not None:
                self.values[self._current] = bytes(self._capture).strip()
        self._capture = None
        self._current = None


def scan_object(data: bytes, keys: frozenset[str], count_items_of: frozenset[str] = frozenset()) -> TopLevelScanner:
    """Scan one complete JSON object (e.g. an SSE event's data)."""
    scanner = TopLevelScanner(keys, count_items_of)
    scanner.feed(data)
    return scanner
