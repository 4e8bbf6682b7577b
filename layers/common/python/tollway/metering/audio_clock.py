"""The running duration of an audio stream tollway forwards (text-to-speech answers), in bounded memory.

Chunks are walked frame by frame as they pass — MP3 and ADTS frame headers, Ogg page granules, the
bytes after a WAV header, raw PCM (24 kHz, 16-bit mono: OpenAI's ``pcm``) — keeping at most one frame
header's worth of bytes; frame bodies are skipped, never stored. FLAC (and anything unreadable)
reports ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal

from tollway.metering.audio_probe import adts_frame, mp3_frame

__all__ = ["PCM_BYTES_PER_S", "StreamClock"]

#: OpenAI's ``pcm`` speech: 24 kHz, signed 16-bit little-endian, mono.
PCM_BYTES_PER_S = 48_000
_HEADER_LIMIT = 64 * 1024  # ID3 tags and WAV headers larger than this are not audio tollway reads


class StreamClock:
    """Feed the bytes of one audio stream; ``seconds`` is what they play (None if unknown)."""

    def __init__(self, audio_format: str) -> None:
        self._format = audio_format
        self._buf = bytearray()
        self._skip = 0  # bytes of a frame body still to pass over
        self._samples: dict[int, int] = {}  # sample rate → samples seen
        self._bytes = 0
        self._byte_rate = 0
        self._granule = 0
        self._preskip = 0
        self._pages = 0
        self._broken = False

    @property
    def seconds(self) -> Decimal | None:
        if self._broken:
            return None
        if self._format == "pcm":
            return Decimal(self._bytes) / PCM_BYTES_PER_S
        if self._format == "wav":
            return None if not self._byte_rate else Decimal(self._bytes) / Decimal(self._byte_rate)
        if self._format == "opus":
            return Decimal(max(self._granule - self._preskip, 0)) / 48000 if self._pages else None
        if self._format in ("mp3", "aac"):
            total = sum((Decimal(n) / Decimal(rate) for rate, n in self._samples.items()), Decimal(0))
            return total if self._samples else None
        return None

    def feed(self, chunk: bytes) -> None:
        if self._broken or not chunk:
            return
        if self._format == "pcm":
            self._bytes += len(chunk)
            return
        if self._skip:
            passed = min(self._skip, len(chunk))
            self._skip -= passed
            self._after_skip(chunk[:passed])
            chunk = chunk[passed:]
        self._buf += chunk
        walk = {"mp3": self._mp3, "aac": self._aac, "wav": self._wav, "opus": self._ogg}.get(self._format)
        if walk is None:
            self._buf.clear()
            return
        walk()
        if len(self._buf) > _HEADER_LIMIT:
            self._broken = True
            self._buf.clear()

    def _after_skip(self, passed: bytes) -> None:
        if self._format == "wav" and self._byte_rate:
            self._bytes += len(passed)

    def _consume(self, length: int) -> None:
        """Pass over ``length`` bytes from the buffer's start (the rest of them may still be to come)."""
        if length <= len(self._buf):
            del self._buf[:length]
        else:
            self._skip = length - len(self._buf)
            self._buf.clear()

    def _mp3(self) -> None:
        self._frames(10, 4, mp3_frame)  # 10: an ID3 tag's header, the longer of the two

    def _aac(self) -> None:
        self._frames(7, 7, adts_frame)

    def _frames(self, minimum: int, header: int, frame_of: Callable[[bytes], tuple[int, int, int] | None]) -> None:
        """Walk frame headers (``frame_of``: length, samples, rate), resyncing past anything else."""
        buf = self._buf
        while len(buf) >= minimum:
            if self._format == "mp3" and buf[:3] == b"ID3":
                size = (buf[6] << 21) | (buf[7] << 14) | (buf[8] << 7) | buf[9]
                self._consume(10 + size)
                continue
            frame = frame_of(bytes(buf[:header]))
            if frame is None:
                at = buf.find(b"\xff", 1)
                del buf[: at if at > 0 else len(buf)]
                continue
            self._samples[frame[2]] = self._samples.get(frame[2], 0) + frame[1]
            self._consume(frame[0])

    def _wav(self) -> None:
        if self._byte_rate:
            self._bytes += len(self._buf)
            self._buf.clear()
            return
        buf = self._buf
        pos = 12
        rate = 0
        while pos + 8 <= len(buf):
            kind, size = bytes(buf[pos : pos + 4]), struct.unpack_from("<I", buf, pos + 4)[0]
            if kind == b"fmt " and pos + 20 <= len(buf):
                rate = struct.unpack_from("<I", buf, pos + 16)[0]
            if kind == b"data":
                if not rate:
                    self._broken = True
                    return
                self._byte_rate = rate
                self._bytes += len(buf) - (pos + 8)
                buf.clear()
                return
            pos += 8 + size + (size & 1)

    def _ogg(self) -> None:
        buf = self._buf
        while len(buf) >= 27:
            if buf[:4] != b"OggS":
                self._broken = True
                return
            segments = buf[26]
            if len(buf) < 27 + segments:
                return
            body = sum(buf[27 : 27 + segments])
            if self._pages == 0:
                if len(buf) < 27 + segments + min(body, 19):
                    return
                packet = bytes(buf[27 + segments : 27 + segments + 19])
                if packet.startswith(b"OpusHead"):
                    self._preskip = struct.unpack_from("<H", packet, 10)[0]
            granule = struct.unpack_from("<q", buf, 6)[0]
            if granule > 0:
                self._granule = granule
            self._pages += 1
            self._consume(27 + segments + body)
