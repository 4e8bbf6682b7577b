"""Strict, bounded multipart/form-data: parse what a client sent, re-encode what goes upstream.

Parsing uses python-multipart (the parser Starlette itself relies on), fed from the already size-limited
body. Anything malformed — no boundary, a broken part, too many parts, a part without a name — is an
:class:`~tollway.errors.InvalidRequest` (400), never a 500, and nothing is charged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from tollway.errors import InvalidRequest

__all__ = ["FilePart", "Form", "encode_multipart", "parse_multipart"]

MAX_PARTS = 64


@dataclass(frozen=True, slots=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def files_named(self, *names: str) -> list[FilePart]:
        return [f for f in self.files if f.name in names]


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


def parse_multipart(body: bytes, content_type: str) -> Form:
    """Parse a multipart/form-data body. Raises InvalidRequest on anything malformed."""
    mime, options = parse_options_header(content_type.encode("latin-1"))
    if mime != b"multipart/form-data":
        raise InvalidRequest("Expected a multipart/form-data body.", code="invalid_content_type")
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("The multipart body has no boundary.", code="invalid_multipart")
    parts: list[_Part] = []
    header_name = bytearray()
    header_value = bytearray()
    ended = False

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise InvalidRequest(f"Too many parts in the form (at most {MAX_PARTS}).", code="invalid_multipart")
        parts.append(_Part())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except InvalidRequest:
        raise
    except Exception as exc:  # python-multipart raises its own error types for broken bodies
        raise InvalidRequest("The multipart body is malformed.", code="invalid_multipart") from exc
    if not ended:
        raise InvalidRequest("The multipart body ends early.", code="invalid_multipart")
    form = Form()
    for part in parts:
        _add_part(form, part)
    return form


def _add_part(form: Form, part: _Part) -> None:
    disposition = part.headers.get(b"content-disposition")
    if disposition is None:
        raise InvalidRequest("A form part has no Content-Disposition.", code="invalid_multipart")
    kind, params = parse_options_header(disposition)
    name = params.get(b"name")
    if kind != b"form-data" or not name:
        raise InvalidRequest("A form part has no name.", code="invalid_multipart")
    key = name.decode("utf-8", "replace")
    filename = params.get(b"filename")
    if filename is not None:
        ctype = part.headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
        form.files.append(FilePart(key, filename.decode("utf-8", "replace"), ctype, bytes(part.data)))
        return
    try:
        value = part.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"Form field '{key}' is not UTF-8 text."
        raise InvalidRequest(message, param=key, code="invalid_multipart") from exc
    form.fields.setdefault(key, []).append(value)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def encode_multipart(fields: list[tuple[str, str]], files: list[FilePart]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type (with a fresh boundary)."""
    boundary = "tollway-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for part in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(part.name)}"; '
            f'filename="{_quote(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n'
        )
        chunks.append(head.encode() + part.data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
