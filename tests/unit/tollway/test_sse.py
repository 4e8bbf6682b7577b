from __future__ import annotations

import random

import pytest
from tollway.sse import SSEError, SSEParser


def test_events_split_across_chunks_and_line_endings() -> None:
    parser = SSEParser()
    stream = b'data: {"a":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\n: comment\n\ndata: [DONE]\n\n'
    events = []
    for i in range(0, len(stream), 3):  # worst case: tiny chunks, \r\n split in the middle
        events += parser.feed(stream[i : i + 3])
    assert [e.data for e in events] == [b'{"a":1}', b"one\ntwo", None, b"[DONE]"]
    assert events[1].event == "x" and events[2].is_comment


def test_an_endless_line_is_refused_at_the_limit() -> None:
    parser = SSEParser(max_event_bytes=1024)
    for _ in range(9):
        parser.feed(b"data: " + b"x" * 100)  # 954 bytes so far: still within the limit
    with pytest.raises(SSEError):
        parser.feed(b"x" * 100)


def test_flush_returns_an_unterminated_final_event() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert [e.data for e in parser.flush()] == [b"tail"]


def _events(chunks: list[bytes], limit: int = 1 << 20) -> list[tuple[bytes, str | None, bytes | None]]:
    parser = SSEParser(max_event_bytes=limit)
    out = [e for chunk in chunks for e in parser.feed(chunk)] + parser.flush()
    return [(e.block, e.event, e.data) for e in out]


STREAMS = [
    b'data: {"a":1}\n\ndata:{"b":2}\n\n: ping\n\n\n\nevent: x\ndata: one\ndata: two\n\ndata: [DONE]\n\n',
    b"data: a\n\n\ndata: b\n\n\n\n\ndata: c",  # runs of blank lines, an unterminated last event
    b"event: message_start\r\ndata: {}\r\n\r\nretry: 5\r\n\r\ndata: x\r\rdata: y\n\r\n",
    b"data:\n\ndata: \n\ndata:  two spaces\n\nid: 7\n\n",
]


@pytest.mark.parametrize("stream", STREAMS)
def test_any_chunking_gives_the_events_of_a_byte_at_a_time_read(stream: bytes) -> None:
    # Whole-event chunks take the parser's unbuffered path, cut ones the buffered search: same events.
    expected = _events([stream[i : i + 1] for i in range(len(stream))])
    rng = random.Random(stream)
    *whole, rest = stream.split(b"\n\n")
    chunkings = [[stream], [block + b"\n\n" for block in whole] + [rest]]
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 6)))
        chunkings.append([stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)])
    for chunks in chunkings:
        assert _events(chunks) == expected, chunks


def test_a_one_line_data_event_reads_as_the_general_parse_does() -> None:
    assert _events([b"data: x\n\n", b"data:y\n\n", b"data:  z\n\n"]) == [
        (b"data: x", None, b"x"),
        (b"data:y", None, b"y"),
        (b"data:  z", None, b" z"),
    ]


def test_the_limit_applies_to_the_unfinished_rest_of_a_whole_chunk() -> None:
    # A complete event over the limit passes (the limit bounds what is buffered, not what is forwarded)...
    assert [e.data for e in SSEParser(max_event_bytes=16).feed(b"data: " + b"x" * 40 + b"\n\n")] == [b"x" * 40]
    # ...an unfinished one over it is refused, whether it arrives with whole events or alone.
    with pytest.raises(SSEError):
        SSEParser(max_event_bytes=16).feed(b"data: a\n\ndata: " + b"x" * 40)
    parser = SSEParser(max_event_bytes=16)
    assert parser.feed(b"data: a\n\ndata: 0123456789") != []  # 16 bytes kept: at the limit, not over
    with pytest.raises(SSEError):
        parser.feed(b"x")
