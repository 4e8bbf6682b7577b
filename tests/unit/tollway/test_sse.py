from __future__ import annotations

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
