"""Upper bounds on the tokens of image inputs, for reservations (billing always follows upstream usage).

Where images appear: image parts of chat messages (``{"type": "image_url", "image_url": {"url", "detail"}}``),
Responses input (``{"type": "input_image", "image_url" | "file_id", "detail"}``, also inside tool outputs),
and the files of ``/v1/images/edits``.

The rules are OpenAI's ("Images and vision", *Calculating costs*):

- **tiles** (gpt-4o, gpt-4.1, gpt-4.5, o1/o3, gpt-5 and gpt-5-chat, computer-use): ``detail: low`` costs the base;
  otherwise the image is scaled down to fit 2048×2048, then down so its shortest side is 768 px, and
  costs ``base + per_tile × ceil(w/512) × ceil(h/512)``. At most 8 tiles fit, so an image of unknown size
  is bounded by ``base + 8 × per_tile``.
- **patches** (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano, and the newer models): ``ceil(w/32) × ceil(h/32)``
  patches, shrunk to the model's patch budget when over it, times a per-model multiplier. The bound used
  here is ``min(patches, budget) × multiplier`` (the shrunk count never exceeds the budget).

Models the guide does not list (gpt-5.1 and later, gpt-6.x, anything unknown) get the conservative
``DEFAULT_RULE``: patches with the largest published multiplier (2.46), a 2,500-patch budget for
``detail: high``/``low`` and 16,384 patches for ``auto``/``original`` (a 12 MP photo measured at ≈12,000
patches on gpt-6 with ``auto``). Remote URLs and ``file_id`` images are never fetched: they are bounded
by the rule's largest value. Data URLs are measured from the image header (PNG, JPEG, GIF, WebP)
without decoding pixels; an unreadable header counts as unknown.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_RULE",
    "ImagePart",
    "ImageRule",
    "image_dimensions",
    "image_model_input_bound",
    "image_parts",
    "image_tokens_bound",
    "input_bound",
    "rule_for",
    "url_dimensions",
]

_PATCH = 32
_TILE = 512


@dataclass(frozen=True, slots=True)
class ImageRule:
    """How one model family counts an image's tokens."""

    kind: str  # "tiles" or "patches"
    base: int = 0  # tiles: the low-detail / base tokens
    per_tile: int = 0
    multiplier: Decimal = Decimal(1)  # patches
    budgets: dict[str, int] = field(default_factory=dict)  # patches: detail → patch budget ("*": any other)

    def budget(self, detail: str) -> int:
        return self.budgets.get(detail, self.budgets["*"])


def _tiles(base: int, per_tile: int) -> ImageRule:
    return ImageRule("tiles", base=base, per_tile=per_tile)


def _patches(multiplier: str, budget: int = 1536) -> ImageRule:
    return ImageRule("patches", multiplier=Decimal(multiplier), budgets={"*": budget})


DEFAULT_RULE = ImageRule("patches", multiplier=Decimal("2.46"), budgets={"high": 2500, "low": 2500, "*": 16_384})

# Longest matching prefix wins. Multipliers and tile prices as OpenAI documents them (community
# measurements report lower multipliers for gpt-5-mini/nano; the documented, higher ones bound both).
_RULES: tuple[tuple[str, ImageRule], ...] = (
    ("gpt-4o-mini", _tiles(2833, 5667)),
    ("gpt-4o", _tiles(85, 170)),
    ("chatgpt-4o", _tiles(85, 170)),
    ("gpt-4.5", _tiles(85, 170)),
    ("gpt-4.1-mini", _patches("1.62")),
    ("gpt-4.1-nano", _patches("2.46")),
    ("gpt-4.1", _tiles(85, 170)),
    ("o4-mini", _patches("1.72")),
    ("o1", _tiles(75, 150)),
    ("o3", _tiles(75, 150)),
    ("computer-use", _tiles(65, 129)),
    ("gpt-5-mini", _patches("1.62")),
    ("gpt-5-nano", _patches("2.46")),
    ("gpt-5-chat", _tiles(70, 140)),
)
_EXACT: dict[str, ImageRule] = {"gpt-5": _tiles(70, 140)}


def rule_for(model: str) -> ImageRule:
    """The counting rule of ``model`` (dated snapshots match their family); unknown → ``DEFAULT_RULE``."""
    name = model.lower()
    if name in _EXACT:
        return _EXACT[name]
    if name.startswith("gpt-5-20"):  # gpt-5-2025-08-07
        return _EXACT["gpt-5"]
    best: ImageRule | None = None
    best_len = -1
    for prefix, rule in _RULES:
        if name.startswith(prefix) and len(prefix) > best_len:
            best, best_len = rule, len(prefix)
    return best if best is not None else DEFAULT_RULE


def _detail(value: Any) -> str:
    return value if value in ("low", "high", "original") else "auto"


def image_tokens_bound(rule: ImageRule, size: tuple[int, int] | None, detail: str = "auto") -> int:
    """An upper bound on one image's tokens (``size`` None: unknown, e.g. a remote URL)."""
    detail = _detail(detail)
    if rule.kind == "tiles":
        if detail == "low":
            return rule.base
        if size is None:
            return rule.base + 8 * rule.per_tile
        return rule.base + rule.per_tile * _tile_count(*size)
    budget = rule.budget(detail)
    patches = budget if size is None else min(budget, _ceil_div(size[0], _PATCH) * _ceil_div(size[1], _PATCH))
    return math.ceil(patches * rule.multiplier)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _tile_count(width: int, height: int) -> int:
    """512-px tiles after fitting 2048×2048 and bringing the shortest side down to 768 (exact fractions)."""
    w, h = max(width, 1), max(height, 1)
    num, den = 1, 1  # the scale, as a fraction
    if max(w, h) > 2048:
        num, den = 2048, max(w, h)
    if min(w, h) * num > 768 * den:
        num, den = 768, min(w, h)
    return _ceil_div(w * num, _TILE * den) * _ceil_div(h * num, _TILE * den)


# ---- image headers ---------------------------------------------------------------------------------


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF or WebP header; None if unreadable."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return _valid(w, h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return _valid(w, h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
    except (struct.error, IndexError):
        return None
    return None


def _valid(w: int, h: int) -> tuple[int, int] | None:
    return (w, h) if w > 0 and h > 0 else None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return _valid(w, h)
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return _valid((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return _valid(w & 0x3FFF, h & 0x3FFF)
    return None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # standalone markers
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return _valid(w, h)
        if marker == 0xDA or length < 2:  # image data before any frame header: give up
            return None
        i += 2 + length
    return None


_HEADER_PREFIXES = (4096, 65_536, 1_048_576)  # base64 characters decoded, growing until the header is found


def url_dimensions(url: str) -> tuple[int, int] | None:
    """Dimensions of a ``data:image/…;base64,`` URL's image (None for remote URLs or unreadable data)."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    for prefix in _HEADER_PREFIXES:
        chunk = payload[: prefix - prefix % 4] if len(payload) > prefix else payload
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=False)
        except (binascii.Error, ValueError):
            return None
        found = image_dimensions(raw)
        if found is not None or len(chunk) == len(payload):
            return found
    return None


# ---- where images are in a request ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImagePart:
    url: str | None  # the data URL or remote URL; None for a file_id
    detail: str


_IMAGE_TYPES = frozenset({"image_url", "input_image"})


def image_parts(body: Any) -> Iterator[ImagePart]:
    """Every image part anywhere in a chat or Responses body (iterative: no recursion limit)."""
    stack: list[Any] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        # Any JSON may sit here (e.g. a prompt variable): only a string names a part type.
        if isinstance(kind, str) and kind in _IMAGE_TYPES:
            ref = node.get("image_url")
            detail = node.get("detail")
            if isinstance(ref, dict):  # chat: {"url", "detail"}
                detail = ref.get("detail", detail)
                ref = ref.get("url")
            yield ImagePart(ref if isinstance(ref, str) else None, _detail(detail))
            continue
        stack.extend(v for v in node.values() if isinstance(v, dict | list))


def input_bound(raw: bytes, body: Any, model: str) -> int:
    """Input-token bound of a chat/Responses request: its bytes bound the text tokens (see
    ``tollway.tokens``), except that each image's URL bytes are replaced by the image's token bound."""
    if b'"image_url"' not in raw and b'"input_image"' not in raw:
        return len(raw)
    rule = rule_for(model)
    bound = len(raw)
    for part in image_parts(body):
        size = None
        if part.url is not None:
            # The URL's (unescaped) bytes leave the text bound; escapes only made the raw body longer.
            bound -= len(part.url.encode("utf-8", "surrogatepass"))
            size = url_dimensions(part.url)
        bound += image_tokens_bound(rule, size, part.detail)
    return max(bound, 0)


# ---- image models (edits, variations) -------------------------------------------------------------

#: Per input image of a GPT Image model: gpt-image-2 counts 32-px patches within a 1,536-patch budget
#: (small inputs are magnified first, so any image can reach it), which exceeds the 581-token maximum
#: of the tile rule (base 65, 129 per tile, shortest side 512) measured for gpt-image-1/1.5.
IMAGE_MODEL_TOKENS_PER_INPUT = 1536
#: ``input_fidelity: high`` preserves inputs in more detail; no formula is published, so each image is
#: bounded by 6,240 tokens (the largest figure of OpenAI's image token tables).
IMAGE_MODEL_TOKENS_PER_INPUT_HIGH_FIDELITY = 6240
#: Input images also add text tokens (measured 15–40 per image on gpt-image-1.5).
IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT = 128


def image_model_input_bound(images: Sequence[bytes], *, input_fidelity: str | None = None) -> int:
    """Input-token bound of the images of an image edit (the mask included: it is an image too)."""
    per_image = IMAGE_MODEL_TOKENS_PER_INPUT_HIGH_FIDELITY if input_fidelity == "high" else IMAGE_MODEL_TOKENS_PER_INPUT
    return len(images) * (per_image + IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT)
