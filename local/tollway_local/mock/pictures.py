"""Deterministic pictures for the mock's image endpoints (Pillow; the mock is local-only).

The same seed, size and format always give the same bytes. A picture is a coloured background with a
few shapes: small when encoded (a 1024×1024 PNG is a few kB). ``noise=True`` fills it with seeded
random pixels instead, which no codec can shrink: a test asks for that (``[[noise]]``) to get a large
answer (a 2048×2048 noise PNG is ≈12.6 MB, ≈16.8 MB in base64). A partial image ``k`` of ``p`` shows
the first ``(k + 1) / (p + 1)`` of the shapes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import random

from PIL import Image, ImageDraw

__all__ = ["picture_b64", "render", "seed_of"]

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_SHAPES = 12


def seed_of(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def render(
    seed: int,
    width: int,
    height: int,
    output_format: str = "png",
    *,
    noise: bool = False,
    partial: int | None = None,
    partials: int = 0,
    transparent: bool = False,
) -> bytes:
    """The encoded picture (PNG, JPEG or WebP)."""
    rng = random.Random(seed)  # deterministic pictures, nothing secret
    fmt = _FORMATS.get(output_format, "PNG")
    mode = "RGBA" if transparent and fmt != "JPEG" else "RGB"
    if noise:
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        if mode == "RGBA":
            image = image.convert("RGBA")
    else:
        background = (0, 0, 0, 0) if mode == "RGBA" else tuple(rng.randrange(256) for _ in range(3))
        image = Image.new(mode, (width, height), background)
        draw = ImageDraw.Draw(image)
        shapes = _SHAPES if partial is None else max(1, _SHAPES * (partial + 1) // (partials + 1))
        for index in range(_SHAPES):
            x0, y0 = rng.randrange(width), rng.randrange(height)
            x1, y1 = x0 + rng.randrange(1, width // 2 + 2), y0 + rng.randrange(1, height // 2 + 2)
            colour = tuple(rng.randrange(256) for _ in range(3))
            if index < shapes:
                (draw.ellipse if index % 2 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", compress_level=1 if noise else 6)
    elif fmt == "JPEG":
        image.save(out, "JPEG", quality=90)
    else:
        image.save(out, "WEBP", quality=90, method=0)
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def picture_b64(
    seed: int,
    width: int,
    height: int,
    output_format: str = "png",
    noise: bool = False,
    partial: int | None = None,
    partials: int = 0,
    transparent: bool = False,
) -> str:
    """``render`` in base64 (cached: a test that repeats a large answer does not pay for it twice)."""
    data = render(
        seed, width, height, output_format, noise=noise, partial=partial, partials=partials, transparent=transparent
    )
    return base64.b64encode(data).decode("ascii")
