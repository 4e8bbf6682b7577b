"""The audio-duration probe (uploads) and the stream clock (speech answers): every format measured from
its own structure, the same result however the stream is chunked, and garbage never raises."""

from __future__ import annotations

import random
import struct
from decimal import Decimal

import pytest
from tollway.metering.audio_clock import StreamClock
from tollway.metering.audio_probe import probe_duration
from tollway_local.mock.endpoints.audio import speech_audio
from tollway_local.mock.surface_usage import MP3_FRAME_SECONDS


def wav(seconds: float, rate: int = 16000, channels: int = 1, streamed: bool = False) -> bytes:
    data = bytes(int(seconds * rate) * 2 * channels)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    size = 0xFFFFFFFF if streamed else len(data)
    head = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"  # an odd-sized chunk before the data (padded)
    return head + b"fmt " + struct.pack("<I", 16) + fmt + extra + b"data" + struct.pack("<I", size) + data


def mp3_xing(frames: int) -> bytes:
    header = b"\xff\xfb\x90\x00"
    body = bytearray(413)
    body[32:36] = b"Xing"  # MPEG-1 stereo side info is 32 bytes
    body[36:40] = struct.pack(">I", 1)  # frames field present
    body[40:44] = struct.pack(">I", frames)
    return header + bytes(body)  # only the first frame: the header says how many there are


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 0:
        mvhd = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, timescale, duration) + bytes(80)
    else:
        mvhd = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, duration) + bytes(80)
    return box(b"ftyp", b"M4A \x00\x00\x00\x00") + box(b"mdat", bytes(100)) + box(b"moov", box(b"mvhd", mvhd))


def ebml(ident: bytes, payload: bytes) -> bytes:
    size = len(payload)
    return ident + bytes([0x01]) + size.to_bytes(7, "big") + payload  # 8-byte size vint


def webm(duration_ms: float | None, blocks: list[tuple[int, int]]) -> bytes:
    info = ebml(b"\x2a\xd7\xb1", (1_000_000).to_bytes(4, "big"))
    if duration_ms is not None:
        info += ebml(b"\x44\x89", struct.pack(">d", duration_ms))
    clusters = b""
    for cluster_time, relative in blocks:
        block = b"\x81" + struct.pack(">hB", relative, 0) + bytes(4)
        clusters += ebml(b"\x1f\x43\xb6\x75", ebml(b"\xe7", cluster_time.to_bytes(2, "big")) + ebml(b"\xa3", block))
    segment = ebml(b"\x15\x49\xa9\x66", info) + clusters
    head = ebml(b"\x1a\x45\xdf\xa3", ebml(b"\x42\x82", b"webm"))
    return head + b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff" + segment  # unknown segment size


def test_wav_duration_with_a_padded_chunk_before_the_data() -> None:
    assert probe_duration(wav(2.5)) == Decimal("2.5")
    assert probe_duration(wav(1.0, rate=44100, channels=2)) == Decimal("1")


def test_a_streamed_wav_header_counts_the_bytes_present() -> None:
    assert probe_duration(wav(3.0, streamed=True)) == Decimal("3")


@pytest.mark.parametrize("fmt", ["mp3", "aac", "wav", "pcm", "opus", "flac"])
def test_every_speech_format_of_the_mock_measures_its_duration(fmt: str) -> None:
    frames = 40
    seconds = MP3_FRAME_SECONDS * frames
    data = speech_audio(fmt, frames, seconds)
    if fmt == "pcm":
        return  # raw PCM has no header: only the stream clock can time it (below)
    measured = probe_duration(data)
    assert measured is not None
    # Each format rounds the same span to its own frame size (ADTS: 1,024 samples).
    assert abs(measured - seconds) < Decimal("0.03"), (fmt, measured, seconds)


def test_mp3_with_a_xing_header_uses_its_frame_count() -> None:
    assert probe_duration(mp3_xing(1000)) == (MP3_FRAME_SECONDS * 1000).quantize(
        Decimal("0.001"), rounding="ROUND_CEILING"
    )


def test_mp3_after_an_id3_tag_and_garbage_between_frames() -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    frame = b"\xff\xfb\x90\x00" + bytes(413)
    data = tag + frame * 5 + b"junk!" + frame * 5
    assert probe_duration(data) == (MP3_FRAME_SECONDS * 10).quantize(Decimal("0.001"), rounding="ROUND_CEILING")


@pytest.mark.parametrize("version", [0, 1])
def test_mp4_movie_header(version: int) -> None:
    assert probe_duration(mp4(1000, 12_345, version)) == Decimal("12.345")


def test_webm_with_a_duration_element() -> None:
    assert probe_duration(webm(4250.0, [(0, 20)])) == Decimal("4.25")


def test_webm_without_duration_uses_the_last_block_time() -> None:
    # MediaRecorder files: no Duration; the last block starts at 3,000 + 960 ms.
    assert probe_duration(webm(None, [(0, 0), (0, 480), (3000, 960)])) == Decimal("3.96")


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"RIFF\x00\x00\x00\x00WAVE", b"\xff\xfb", b"OggS" + bytes(30), b"fLaC" + bytes(10), b"\x00" * 5000],
)
def test_unreadable_audio_is_none_never_an_exception(data: bytes) -> None:
    assert probe_duration(data) is None


def test_truncated_and_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    samples = [wav(1.0), speech_audio("mp3", 10, MP3_FRAME_SECONDS * 10), mp4(1000, 5000), webm(None, [(0, 5)])]
    for sample in samples:
        for cut in range(0, len(sample), max(1, len(sample) // 50)):
            probe_duration(sample[:cut])
    for _ in range(300):
        probe_duration(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))))


@pytest.mark.parametrize("fmt", ["mp3", "aac", "wav", "pcm", "opus"])
def test_the_stream_clock_times_a_stream_however_it_is_chunked(fmt: str) -> None:
    frames = 50
    seconds = MP3_FRAME_SECONDS * frames
    data = speech_audio(fmt, frames, seconds)
    rng = random.Random(fmt)
    results = set()
    for _ in range(5):
        clock = StreamClock(fmt)
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 3, 7, 100, 417, 4096, 10_000])
            clock.feed(data[pos : pos + step])
            pos += step
        assert clock.seconds is not None
        results.add(clock.seconds)
    assert len(results) == 1  # chunking changes nothing
    (measured,) = results
    assert abs(measured - seconds) < Decimal("0.03"), (fmt, measured, seconds)


def test_the_stream_clock_does_not_know_flac_and_gives_up_on_garbage() -> None:
    clock = StreamClock("flac")
    clock.feed(speech_audio("flac", 10, Decimal(1)))
    assert clock.seconds is None
    ogg = StreamClock("opus")
    ogg.feed(b"not an ogg stream at all" * 10)
    assert ogg.seconds is None
