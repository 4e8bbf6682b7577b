"""How long an audio file plays, measured by tollway itself (pure Python, no ffmpeg, bounded work).

Per-minute models (whisper-1, gpt-transcribe) answer text/srt/vtt without usage, so tollway bills the
duration it measures; every answer's reservation needs a duration bound before the upstream call.

Formats (the ones OpenAI accepts, each read from its own header or frame structure):

- WAV (RIFF/RF64 ``fmt``+``data``; a streamed header's unknown size → the bytes present),
- MP3 (Xing/Info/VBRI frame count, else every frame header walked; ID3v2 skipped),
- FLAC (STREAMINFO total samples), Ogg Opus/Vorbis (last page's granule position),
- MP4/M4A/MOV (``mvhd`` duration, ``mehd`` for fragmented files), AAC in ADTS frames,
- WebM/Matroska (``Segment/Info/Duration``; without it — MediaRecorder files — the last block's
  timestamp).

Work is linear in the input with no recursion and every loop advances; a file this module cannot read
gives ``None`` (the caller then bounds or refuses, never guesses low).
"""

from __future__ import annotations

import struct
from decimal import ROUND_CEILING, Decimal

__all__ = ["probe_duration"]

_MS = Decimal("0.001")


def probe_duration(data: bytes) -> Decimal | None:
    """Seconds of audio in ``data`` (rounded up to the millisecond), or None if unreadable."""
    try:
        seconds = _probe(data)
    except (struct.error, IndexError, ValueError, ZeroDivisionError):
        return None
    if seconds is None or seconds <= 0:
        return None
    return seconds.quantize(_MS, rounding=ROUND_CEILING)


def _probe(data: bytes) -> Decimal | None:
    head = data[:12]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return _wav(data)
    if head[:4] == b"fLaC":
        return _flac(data, 4)
    if head[:4] == b"OggS":
        return _ogg(data)
    if head[4:8] == b"ftyp":
        return _mp4(data)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _matroska(data)
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        start = _skip_id3(data)
        if start + 1 < len(data) and data[start] == 0xFF and (data[start + 1] & 0xF6) == 0xF0:
            return _adts(data, start)
        if data[start : start + 4] == b"fLaC":
            return _flac(data, start + 4)
        return _mp3(data, start)
    return None


# ---- WAV --------------------------------------------------------------------------------------------


def _wav(data: bytes) -> Decimal | None:
    pos, byte_rate, ds64_size = 12, 0, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"ds64":
            ds64_size = struct.unpack_from("<Q", data, body + 8)[0]
        elif chunk == b"fmt ":
            byte_rate = struct.unpack_from("<I", data, body + 8)[0]
        elif chunk == b"data":
            if byte_rate <= 0:
                return None
            present = len(data) - body
            if size == 0xFFFFFFFF and ds64_size is not None:
                size = ds64_size
            if size in (0, 0xFFFFFFFF) or size > present:
                size = present  # a streamed header does not know its size: the bytes present play
            return Decimal(size) / Decimal(byte_rate)
        pos = body + size + (size & 1)
    return None


# ---- MP3 --------------------------------------------------------------------------------------------

_MP3_BITRATES = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # MPEG1 layer I
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # MPEG1 layer II
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG1 layer III
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),  # MPEG2/2.5 layer I
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG2/2.5 layer II, III
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _skip_id3(data: bytes) -> int:
    pos = 0
    while data[pos : pos + 3] == b"ID3" and pos + 10 <= len(data):
        size = (data[pos + 6] << 21) | (data[pos + 7] << 14) | (data[pos + 8] << 7) | data[pos + 9]
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def mp3_frame(header: bytes) -> tuple[int, int, int] | None:
    """(frame length in bytes, samples, sample rate) of a 4-byte MPEG audio frame header, or None."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3: MPEG1, 2: MPEG2, 0: MPEG2.5
    layer = (header[1] >> 1) & 3  # 3: I, 2: II, 1: III
    rate_index, bit_index, padding = (header[2] >> 2) & 3, header[2] >> 4, (header[2] >> 1) & 1
    if version == 1 or layer == 0 or rate_index == 3 or bit_index in (0, 15):
        return None
    table = _MP3_BITRATES[(3, layer)] if version == 3 else _MP3_BITRATES[(2, 3 if layer == 3 else 2)]
    bitrate = table[bit_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    if layer == 3:
        return (12 * bitrate // rate + padding) * 4, 384, rate
    samples = 1152 if layer == 2 or version == 3 else 576
    return samples // 8 * bitrate // rate + padding, samples, rate


def _mp3(data: bytes, pos: int) -> Decimal | None:
    first = _sync(data, pos)
    if first is None:
        return None
    frame = mp3_frame(data[first : first + 4])
    if frame is None:
        return None
    frames = _xing_frames(data, first)
    if frames is not None:
        return Decimal(frames * frame[1]) / Decimal(frame[2])
    total, pos = Decimal(0), first
    while pos + 4 <= len(data):
        frame = mp3_frame(data[pos : pos + 4])
        if frame is None or frame[0] <= 0:
            found = _sync(data, pos + 1)  # garbage or a tag between frames: resynchronise
            if found is None:
                break
            pos = found
            continue
        total += Decimal(frame[1]) / Decimal(frame[2])
        pos += frame[0]
    return total


def _sync(data: bytes, pos: int) -> int | None:
    """The next offset holding a valid frame header followed by another (or the end), from ``pos``."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 4 > len(data):
            return None
        frame = mp3_frame(data[pos : pos + 4])
        if frame is not None and frame[0] > 0:
            after = pos + frame[0]
            if after + 4 > len(data) or mp3_frame(data[after : after + 4]) is not None:
                return pos
        pos += 1


def _xing_frames(data: bytes, first: int) -> int | None:
    """The frame count of a Xing/Info or VBRI header in the first frame (None if it has none)."""
    window = data[first : first + 200]
    for tag in (b"Xing", b"Info"):
        at = window.find(tag)
        if at > 0 and struct.unpack_from(">I", window, at + 4)[0] & 1:
            return int(struct.unpack_from(">I", window, at + 8)[0])
    if window[36:40] == b"VBRI":
        return int(struct.unpack_from(">I", window, 36 + 14)[0])
    return None


# ---- FLAC, Ogg, ADTS --------------------------------------------------------------------------------


def _flac(data: bytes, pos: int) -> Decimal | None:
    if data[pos] & 0x7F != 0:  # the first metadata block must be STREAMINFO
        return None
    info = data[pos + 4 : pos + 4 + 34]
    rate = (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)
    samples = ((info[13] & 0x0F) << 32) | struct.unpack_from(">I", info, 14)[0]
    if rate == 0 or samples == 0:
        return None
    return Decimal(samples) / Decimal(rate)


def _ogg(data: bytes) -> Decimal | None:
    packet = data[27 + data[26] : 27 + data[26] + 32]  # the first page's first packet
    if packet.startswith(b"OpusHead"):
        rate, skip = 48000, struct.unpack_from("<H", packet, 10)[0]
    elif packet.startswith(b"\x01vorbis"):
        rate, skip = struct.unpack_from("<I", packet, 12)[0], 0
    else:
        return None
    last = data.rfind(b"OggS")
    while last >= 0:
        granule = struct.unpack_from("<q", data, last + 6)[0]
        if granule > 0:
            return Decimal(max(granule - skip, 0)) / Decimal(rate)
        last = data.rfind(b"OggS", 0, last)
    return None


_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def adts_frame(header: bytes) -> tuple[int, int, int] | None:
    """(frame length, samples, sample rate) of an ADTS header, or None."""
    if len(header) < 7 or header[0] != 0xFF or (header[1] & 0xF6) != 0xF0:
        return None
    rate_index = (header[2] >> 2) & 0x0F
    length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
    if rate_index >= len(_AAC_RATES) or length < 7:
        return None
    return length, 1024 * ((header[6] & 0x03) + 1), _AAC_RATES[rate_index]


def _adts(data: bytes, pos: int) -> Decimal | None:
    total = Decimal(0)
    while pos + 7 <= len(data):
        frame = adts_frame(data[pos : pos + 7])
        if frame is None:
            break
        total += Decimal(frame[1]) / Decimal(frame[2])
        pos += frame[0]
    return total


# ---- MP4 --------------------------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"mvex", b"trak", b"mdia"}


def _mp4(data: bytes) -> Decimal | None:
    stack = [(0, len(data))]
    fragment: Decimal | None = None
    timescale = 0
    while stack:
        pos, end = stack.pop()
        while pos + 8 <= end:
            size, kind = struct.unpack_from(">I4s", data, pos)
            header = 8
            if size == 1:
                size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
            elif size == 0:
                size = end - pos
            if size < header:
                return None
            body = pos + header
            if kind in _CONTAINERS:
                stack.append((body, min(pos + size, end)))
            elif kind == b"mvhd":
                version = data[body]
                if version == 1:
                    timescale, duration = struct.unpack_from(">IQ", data, body + 20)
                else:
                    timescale, duration = struct.unpack_from(">II", data, body + 12)
                if timescale and duration and duration != (1 << (64 if version == 1 else 32)) - 1:
                    return Decimal(duration) / Decimal(timescale)
            elif kind == b"mehd" and timescale:
                version = data[body]
                span = struct.unpack_from(">Q" if version == 1 else ">I", data, body + 4)[0]
                fragment = Decimal(span) / Decimal(timescale)
            pos += size
    return fragment


# ---- Matroska / WebM --------------------------------------------------------------------------------

_SEGMENT, _INFO, _CLUSTER = 0x18538067, 0x1549A966, 0x1F43B675
_TIMECODE_SCALE, _DURATION, _CLUSTER_TIME = 0x2AD7B1, 0x4489, 0xE7
_SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xA3, 0xA0, 0xA1
_UNKNOWN = -1


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length). Unknown sizes are ``_UNKNOWN``."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        raise ValueError("invalid EBML integer")
    value = first if keep_marker else first & (0xFF >> length)
    for i in range(1, length):
        value = (value << 8) | data[pos + i]
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


def _matroska(data: bytes) -> Decimal | None:
    scale, duration, last_ms = 1_000_000, None, -1
    cluster_time = 0
    pos, end = 0, len(data)
    while pos < end:
        ident, n = _vint(data, pos, keep_marker=True)
        size, m = _vint(data, pos + n, keep_marker=False)
        body = pos + n + m
        if ident in (_SEGMENT, _INFO, _CLUSTER, _BLOCK_GROUP):
            pos = body  # descend: their children follow in the same byte stream
            continue
        if size == _UNKNOWN:
            return None
        if ident == _TIMECODE_SCALE:
            scale = int.from_bytes(data[body : body + size], "big")
        elif ident == _DURATION:
            duration = struct.unpack_from(">f" if size == 4 else ">d", data, body)[0]
        elif ident == _CLUSTER_TIME:
            cluster_time = int.from_bytes(data[body : body + size], "big")
        elif ident in (_SIMPLE_BLOCK, _BLOCK):
            _, track = _vint(data, body, keep_marker=False)
            relative = struct.unpack_from(">h", data, body + track)[0]
            last_ms = max(last_ms, cluster_time + relative)
        pos = body + size
    if duration is not None and duration > 0:
        return Decimal(repr(duration)) * Decimal(scale) / Decimal(1_000_000_000)
    if last_ms >= 0:
        return Decimal(last_ms) * Decimal(scale) / Decimal(1_000_000_000)
    return None
