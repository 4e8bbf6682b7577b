"""The streaming top-level JSON scanner (tollway.metering.images_scan) and the image meters built on it."""

from __future__ import annotations

import base64
import os

import orjson
import pytest
from tollway.metering.images_meters import ImagesByteMeter, images_stream_meter
from tollway.metering.images_scan import TopLevelScanner, scan_object
from tollway.metering.stream import StreamBroke
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent, SSEParser

USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 2},
    "output_tokens": 4160,
    "total_tokens": 4172,
}
KEYS = frozenset({"usage", "created"})
DATA = frozenset({"data"})


def feed_in_pieces(raw: bytes, size: int) -> TopLevelScanner:
    scanner = TopLevelScanner(KEYS, DATA)
    for i in range(0, len(raw), size):
        scanner.feed(raw[i : i + size])
    return scanner


def answer(images: int = 2, *, usage_first: bool = False, **extra: object) -> bytes:
    data = [
        {"b64_json": base64.b64encode(os.urandom(3000)).decode(), "revised_prompt": 'a "quoted" \\ prompt'}
    ] * images
    body: dict[str, object] = {"usage": USAGE} if usage_first else {}
    body |= {"created": 1700000000, "data": data, "background": "opaque", "size": "1024x1024", **extra}
    if not usage_first:
        body["usage"] = USAGE
    return orjson.dumps(body)


@pytest.mark.parametrize("usage_first", [False, True])
def test_every_split_finds_usage_and_counts_images(usage_first: bool) -> None:
    raw = answer(3, usage_first=usage_first, nested={"usage": {"not": "this one"}, "list": [{"a": [1, {"b": "}"}]}]})
    for size in (1, 2, 3, 5, 7, 64, 4096, len(raw)):
        scanner = feed_in_pieces(raw, size)
        assert scanner.complete and not scanner.failed
        assert scanner.value("usage") == USAGE, size
        assert scanner.value("created") == 1700000000
        assert scanner.counts == {"data": 3}


def test_escapes_in_keys_and_strings() -> None:
    raw = b'{"x":"\\"usage\\": {}","us\\u0061ge":{"input_tokens":1},"data":[{"b64_json":"ab\\/cd\\\\"}]}'
    for size in (1, 2, 3, len(raw)):
        scanner = feed_in_pieces(raw, size)
        assert scanner.value("usage") == {"input_tokens": 1}
        assert scanner.counts == {"data": 1}


def test_what_is_not_an_object_or_too_large_yields_nothing() -> None:
    assert scan_object(b"[1, 2]", KEYS).failed
    assert scan_object(b"", KEYS).value("usage") is None
    big = orjson.dumps({"usage": {"blob": "x" * 70_000}})
    assert scan_object(big, KEYS).value("usage") is None  # over the 64 kB cap: not kept
    cut = answer()[:-40]
    scanner = scan_object(cut, KEYS, DATA)
    assert not scanner.complete and scanner.value("usage") is None


def test_byte_meter_holds_only_usage() -> None:
    meter = ImagesByteMeter("1024x1024/high", lambda images, partials: Usage(output_tokens=images * 1000))
    for i in range(0, len(raw := answer(2)), 1000):
        meter.feed(raw[i : i + 1000])
    usage = meter.usage(True)
    assert usage is not None
    assert (usage.input_tokens, usage.image_input_tokens, usage.output_tokens) == (12, 2, 4160)
    assert (usage.images, usage.image_variant) == (2, "1024x1024/high")
    # No usage reported (a DALL·E answer): the estimate for the images produced.
    dalle = ImagesByteMeter("1024x1024", lambda images, partials: Usage(output_tokens=images * 1000))
    dalle.feed(orjson.dumps({"created": 1, "data": [{"url": "https://x"}, {"url": "https://y"}]}))
    assert dalle.usage(True) == Usage(output_tokens=2000, images=2, image_variant="1024x1024")
    # Nothing produced: no usage (the pipeline then charges nothing).
    empty = ImagesByteMeter(None, lambda images, partials: Usage())
    empty.feed(b'{"created": 1, "data": []}')
    assert empty.usage(True) is None


def events(*blocks: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(b"".join(blocks))


def event(kind: str, payload: dict[str, object], *, with_name: bool = True) -> bytes:
    data = orjson.dumps({"type": kind, **payload})
    return (f"event: {kind}\n".encode() if with_name else b"") + b"data: " + data + b"\n\n"


@pytest.mark.parametrize("with_name", [True, False])
def test_stream_meter_counts_partials_and_adds_completed_usage(with_name: bool) -> None:
    meter = images_stream_meter(2, None, 100, lambda images, partials: Usage())
    per_image = {**USAGE, "output_tokens": 272, "total_tokens": 284}
    blocks = [
        event("image_generation.partial_image", {"b64_json": "AAAA", "partial_image_index": 0}, with_name=with_name),
        event("image_generation.completed", {"b64_json": "BBBB", "usage": per_image}, with_name=with_name),
        event("image_generation.partial_image", {"b64_json": "CCCC", "partial_image_index": 0}, with_name=with_name),
        event("image_generation.completed", {"b64_json": "DDDD", "usage": per_image}, with_name=with_name),
    ]
    forwarded = [meter.on_event(e) for e in events(*blocks)]
    assert forwarded == blocks  # untouched
    assert meter.done
    # Input once (the largest reported), output added per image, plus 100 per partial image.
    assert meter.usage == Usage(
        input_tokens=12, image_input_tokens=2, output_tokens=2 * 272 + 200, image_output_tokens=2 * 272 + 200, images=2
    )


def test_stream_meter_raises_on_upstream_errors() -> None:
    meter = images_stream_meter(1, None, 100, lambda images, partials: Usage())
    (error,) = events(b'data: {"error": {"message": "boom", "code": "server_error"}}\n\n')
    with pytest.raises(StreamBroke) as caught:
        meter.on_event(error)
    assert caught.value.error == {"message": "boom", "code": "server_error"}
    (typed,) = events(event("error", {"code": "image_generation_failed", "message": "failed"}))
    with pytest.raises(StreamBroke):
        meter.on_event(typed)
    (broken,) = events(b"event: image_generation.completed\ndata: {not json\n\n")
    with pytest.raises(StreamBroke):
        meter.on_event(broken)
