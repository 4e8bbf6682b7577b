"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

Bedrock's streaming APIs (InvokeModelWithResponseStream, ConverseStream) answer with binary frames::

    total length (u32) | headers length (u32) | prelude CRC32 (u32) | headers | payload | message CRC32 (u32)

Both checksums are checked: a frame whose prelude or message CRC is wrong is refused (the stream is
broken) rather than guessed at. The decoder holds at most one unfinished frame, and a frame larger
than botocore's limits is refused before it is buffered, so an upstream cannot exhaust memory.
The wire format and limits follow botocore's ``botocore.eventstream``; the tests check this module
against it. An encoder is here too: the mock upstream and the tests build frames with it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["EventStreamDecoder", "EventStreamError", "Frame", "encode_frame"]

_PRELUDE = struct.Struct(">III")
_PRELUDE_LEN = 12
_CRC_LEN = 4
# botocore's limits (eventstream._MAX_HEADERS_LENGTH / _MAX_PAYLOAD_LENGTH).
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024

HeaderValue = bool | int | bytes | str


class EventStreamError(ValueError):
    """The frame stream is broken: a bad checksum, an impossible length or a malformed header."""


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, HeaderValue]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str:
        """``:event-type`` of an event, ``:exception-type`` of an exception, ``:error-code`` of an error."""
        for name in (":event-type", ":exception-type", ":error-code"):
            value = self.headers.get(name)
            if isinstance(value, str):
                return value
        return ""


def _parse_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    i, end = 0, len(data)
    try:
        while i < end:
            name_len = data[i]
            name = data[i + 1 : i + 1 + name_len].decode("utf-8")
            i += 1 + name_len
            kind = data[i]
            i += 1
            value: HeaderValue
            if kind == 0 or kind == 1:
                value = kind == 0
            elif kind == 2:
                value = struct.unpack_from(">b", data, i)[0]
                i += 1
            elif kind == 3:
                value = struct.unpack_from(">h", data, i)[0]
                i += 2
            elif kind == 4:
                value = struct.unpack_from(">i", data, i)[0]
                i += 4
            elif kind == 5 or kind == 8:  # long, timestamp (ms since the epoch)
                value = struct.unpack_from(">q", data, i)[0]
                i += 8
            elif kind == 6 or kind == 7:
                (length,) = struct.unpack_from(">H", data, i)
                raw = data[i + 2 : i + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("a header value runs past the headers")
                value = raw if kind == 6 else raw.decode("utf-8")
                i += 2 + length
            elif kind == 9:
                value = bytes(data[i : i + 16])
                i += 16
            else:
                raise EventStreamError(f"unknown header value type {kind}")
            if i > end:
                raise EventStreamError("a header runs past the headers")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError("malformed frame headers") from exc
    return headers


_HEADER_CACHE_SIZE = 32


class EventStreamDecoder:
    """Feed network chunks of any size; get whole, checked frames back in order.

    A stream repeats a handful of header blocks (``:event-type: chunk`` …) on every frame, so parsed
    headers are kept per decoder by their bytes (a few entries; frames share the dict: read only).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers: dict[bytes, dict[str, HeaderValue]] = {}

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held (a stream that ends with some is truncated)."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Frame]:
        """The frames ``chunk`` completes.

        Raises:
            EventStreamError: a checksum failed or a length is impossible; the stream cannot continue.
        """
        buf = self._buf
        buf += chunk
        frames: list[Frame] = []
        offset = 0
        size = len(buf)
        while size - offset >= _PRELUDE_LEN:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, offset)
            if zlib.crc32(buf[offset : offset + 8]) != prelude_crc:
                raise EventStreamError("prelude checksum mismatch")
            payload_len = total - headers_len - _PRELUDE_LEN - _CRC_LEN
            if headers_len > MAX_HEADERS_LENGTH or payload_len < 0 or payload_len > MAX_PAYLOAD_LENGTH:
                raise EventStreamError("impossible frame length")
            if size - offset < total:
                break
            end = offset + total - _CRC_LEN
            (message_crc,) = struct.unpack_from(">I", buf, end)
            # The message CRC covers the prelude (its CRC included), headers and payload.
            if zlib.crc32(buf[offset + 8 : end], prelude_crc) != message_crc:
                raise EventStreamError("message checksum mismatch")
            start = offset + _PRELUDE_LEN
            raw_headers = bytes(buf[start : start + headers_len])
            headers = self._headers.get(raw_headers)
            if headers is None:
                headers = _parse_headers(raw_headers)
                if len(self._headers) < _HEADER_CACHE_SIZE:
                    self._headers[raw_headers] = headers
            payload = bytes(buf[start + headers_len : end])
            frames.append(Frame(headers, payload))
            offset += total
        if offset:
            del buf[:offset]
        return frames


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    head = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, int):
        return head + b"\x04" + struct.pack(">i", value)
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    return head + (b"\x06" if isinstance(value, bytes) else b"\x07") + struct.pack(">H", len(raw)) + raw


def encode_frame(headers: dict[str, HeaderValue], payload: bytes) -> bytes:
    """One frame with correct checksums (string, bytes, int32 and bool headers)."""
    head = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = _PRELUDE_LEN + len(head) + len(payload) + _CRC_LEN
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))
