"""The event-stream decoder against botocore's, split at every byte boundary; bad checksums refused."""

from __future__ import annotations

import struct

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st
from tollway.bedrock.eventstream import EventStreamDecoder, EventStreamError, encode_frame

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz:-", min_size=1, max_size=20)
_values = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
_frames = st.lists(
    st.tuples(st.dictionaries(_names, _values, max_size=4), st.binary(max_size=300)), min_size=1, max_size=5
)


def _botocore(stream: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(stream)
    return [(dict(m.headers), m.payload) for m in buffer]


@settings(max_examples=150, deadline=None)
@given(_frames)
def test_frames_decode_like_botocore_whatever_the_split(frames: list[tuple[dict[str, object], bytes]]) -> None:
    stream = b"".join(encode_frame(h, p) for h, p in frames)  # type: ignore[arg-type]
    expected = _botocore(stream)
    assert expected == [(h, p) for h, p in frames]
    for cut in range(len(stream) + 1):
        decoder = EventStreamDecoder()
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [(f.headers, f.payload) for f in got] == expected
        assert decoder.pending == 0


def test_byte_by_byte_feeding_yields_each_frame_once_its_last_byte_arrives() -> None:
    frames = [encode_frame({":event-type": "chunk", ":message-type": "event"}, b'{"n":%d}' % i) for i in range(3)]
    decoder = EventStreamDecoder()
    seen = []
    for i, byte in enumerate(b"".join(frames)):
        out = decoder.feed(bytes([byte]))
        if out:
            seen.append((i, out[0].payload))
    ends = [sum(len(f) for f in frames[: k + 1]) - 1 for k in range(3)]
    assert seen == [(ends[k], b'{"n":%d}' % k) for k in range(3)]


def test_header_types_botocore_writes_are_read() -> None:
    # long (5), timestamp (8) and uuid (9) are never written by encode_frame: build them by hand.
    def header(name: bytes, kind: int, value: bytes) -> bytes:
        return bytes([len(name)]) + name + bytes([kind]) + value

    head = header(b"l", 5, struct.pack(">q", -5)) + header(b"t", 8, struct.pack(">q", 1700000000000))
    head += header(b"u", 9, bytes(range(16))) + header(b"b", 2, b"\xff") + header(b"s", 3, struct.pack(">h", 300))
    frame = _raw_frame(head, b"x")
    (got,) = EventStreamDecoder().feed(frame)
    assert (
        got.headers == _botocore(frame)[0][0] == {"l": -5, "t": 1700000000000, "u": bytes(range(16)), "b": -1, "s": 300}
    )


def _raw_frame(head: bytes, payload: bytes) -> bytes:
    import zlib

    total = 16 + len(head) + len(payload)
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize("position", ["prelude_crc", "length", "header", "payload", "message_crc"])
def test_a_corrupted_byte_is_refused(position: str) -> None:
    frame = bytearray(encode_frame({":event-type": "chunk"}, b'{"bytes":"eyJ0eXBlIjoicGluZyJ9"}'))
    index = {"prelude_crc": 9, "length": 2, "header": 14, "payload": len(frame) - 8, "message_crc": len(frame) - 1}
    frame[index[position]] ^= 0x01
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(bytes(frame))


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_single_bit_flip_is_refused_or_held_never_misread(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame({":message-type": "event"}, payload))
    i = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    frame[i] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    decoder = EventStreamDecoder()
    try:
        frames = decoder.feed(bytes(frame))
    except EventStreamError:
        return
    # A flipped length bit can only make the decoder wait for bytes that never come.
    assert frames == [] and decoder.pending == len(frame)


def test_impossible_lengths_are_refused_before_buffering() -> None:
    import zlib

    prelude = struct.pack(">II", 10, 0)  # shorter than an empty frame
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    huge = struct.pack(">II", 64 * 1024 * 1024, 0)
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(huge + struct.pack(">I", zlib.crc32(huge)))
