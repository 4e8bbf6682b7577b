from __future__ import annotations

import pytest
from relay.multipart import FilePart, encode_multipart, parse_multipart
from tollway.errors import InvalidRequest


def test_round_trip() -> None:
    body, ctype = encode_multipart(
        [("model", "whisper-1"), ("language", "de")], [FilePart("file", "a.wav", "audio/wav", b"RIFF\x00\x01binary")]
    )
    form = parse_multipart(body, ctype)
    assert form.first("model") == "whisper-1" and form.first("language") == "de"
    (part,) = form.files
    assert (part.name, part.filename, part.content_type, part.data) == (
        "file",
        "a.wav",
        "audio/wav",
        b"RIFF\x00\x01binary",
    )


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"garbage", "multipart/form-data; boundary=xyz"),
        (b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue', "multipart/form-data; boundary=xyz"),
        (b"--xyz\r\n\r\nno disposition\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz"),
        (b"{}", "application/json"),
        (b"--xyz--\r\n", "multipart/form-data"),
    ],
)
def test_broken_bodies_are_400(body: bytes, ctype: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_multipart(body, ctype)


def test_too_many_parts_are_refused() -> None:
    body, ctype = encode_multipart([(f"f{i}", "x") for i in range(100)], [])
    with pytest.raises(InvalidRequest, match="Too many parts"):
        parse_multipart(body, ctype)
