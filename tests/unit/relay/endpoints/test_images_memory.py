"""The byte path holds a bounded buffer: relaying a 30 MB image answer through ``ByteSession`` with the
image meter allocates no more than a few chunks, whatever the answer's size (tracemalloc; no timing)."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import anyio
from relay.sessions import ByteSession
from tollway.metering.images_meters import ImagesByteMeter
from tollway.pricing.usage import Usage

CHUNK = 64 * 1024
IMAGES = 3
PER_IMAGE = 10 * 1024 * 1024  # three 10 MB base64 strings: a 30 MB answer
USAGE = b'"usage":{"input_tokens":9,"input_tokens_details":{"text_tokens":9,"image_tokens":0},"output_tokens":21150}'


class Upstream:
    """An upstream answer produced chunk by chunk (never whole in memory)."""

    sent = 0

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        yield b'{"created":1,"data":['
        for index in range(IMAGES):
            yield (b"," if index else b"") + b'{"b64_json":"'
            for _ in range(PER_IMAGE // CHUNK):
                self.sent += CHUNK
                yield b"A" * CHUNK  # a fresh chunk each time, as a socket read gives
            yield b'"}'
        yield b"]," + USAGE + b"}"


def test_a_30_mb_answer_passes_with_a_bounded_buffer() -> None:
    upstream = Upstream()
    meter = ImagesByteMeter(None, lambda images, partials: Usage())
    call = SimpleNamespace(ttft_ms=None, elapsed_ms=lambda: 1)
    exchange = SimpleNamespace(call=call)  # pump() reads only the call's facts
    session = ByteSession(exchange, upstream, meter)  # type: ignore[arg-type]
    forwarded = 0

    async def emit(chunk: bytes) -> None:
        nonlocal forwarded
        forwarded += len(chunk)

    async def run() -> tuple[int, int]:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            await session.pump(emit)
            return before, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    before, peak = anyio.run(run)
    assert upstream.sent == IMAGES * PER_IMAGE and forwarded > 30_000_000
    assert peak - before < 1024 * 1024  # well under 1 MB extra for a 30 MB answer
    usage: Any = meter.usage(True)
    assert (usage.output_tokens, usage.images) == (21150, IMAGES)
