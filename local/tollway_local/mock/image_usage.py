"""The mock's image accounting — pure functions, so tests can compute the exact usage the mock reports.

Formulas (docs/images.md, "The mock upstream"):

* family: a model name containing ``dall-e-2`` / ``dall-e-3`` is DALL·E (no usage, priced per image);
  one containing ``gpt-image-2`` (2, 2.5, 2.6 …) uses gpt-image-2's output formula; every other name
  (gpt-image-1, -1-mini, -1.5, chatgpt-image-latest …) uses OpenAI's published token table.
* ``quality`` auto/absent → ``high``; ``size`` auto/absent → ``1024x1024``.
* output tokens per image: the table (``OUTPUT_TABLE``) or, for gpt-image-2, the output formula measured
  by the OpenAI developer community (``gpt_image_2_output_tokens``); ``output_tokens`` = n × that.
* text tokens = words of the prompt + 6 (OpenAI's measured prompt overhead), or exactly N with
  ``[[prompt=N]]``.
* image tokens of each input image (edits; the mask is not counted): gpt-image-2 — 32-px patches after
  magnifying the image (at most 2×) towards a 1024-px longest side, at most 1,536; other models — the
  tile rule 65 + 129 × tiles (fit in 2048×2048, shortest side down to 512, 512-px tiles).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from tollway_local.mock.errors import bad_request

__all__ = [
    "OUTPUT_TABLE",
    "ImagePlan",
    "expected_image_usage",
    "family_of",
    "gpt_image_2_output_tokens",
    "input_image_tokens",
    "plan_images",
]

OUTPUT_TABLE: dict[str, int] = {
    "1024x1024/low": 272,
    "1024x1536/low": 408,
    "1536x1024/low": 400,
    "1024x1024/medium": 1056,
    "1024x1536/medium": 1584,
    "1536x1024/medium": 1568,
    "1024x1024/high": 4160,
    "1024x1536/high": 6240,
    "1536x1024/high": 6208,
}
_QUALITY_FACTOR = {"low": 16, "medium": 48, "high": 96}
PROMPT_OVERHEAD = 6
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_PROMPT_MARKER = re.compile(r"\[\[prompt=(\d{1,9})\]\]")
DALLE_SIZES = {"dall-e-2": ("256x256", "512x512", "1024x1024"), "dall-e-3": ("1024x1024", "1792x1024", "1024x1792")}


def family_of(model: str) -> str:
    """``dall-e-2``, ``dall-e-3``, ``gpt-image-2`` or ``table``."""
    for family in ("dall-e-2", "dall-e-3", "gpt-image-2"):
        if family in model:
            return family
    return "table"


def gpt_image_2_output_tokens(quality: str, width: int, height: int) -> int:
    """gpt-image-2's output tokens for one image (the community-measured formula)."""
    factor = _QUALITY_FACTOR[quality]
    long_edge, short_edge = max(width, height), min(width, height)
    short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
    return (factor * short_factor * (2_000_000 + width * height) + 4_000_000 - 1) // 4_000_000


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def input_image_tokens(family: str, width: int, height: int) -> int:
    """Input tokens of one image given to an edit."""
    if family == "gpt-image-2":
        scale = min(2.0, max(1.0, 1024 / max(width, height)))
        w, h = math.ceil(width * scale), math.ceil(height * scale)
        return min(1536, _ceil_div(w, 32) * _ceil_div(h, 32))
    fw, fh = float(width), float(height)
    if max(fw, fh) > 2048:
        fw, fh = fw * 2048 / max(fw, fh), fh * 2048 / max(fw, fh)
    if min(fw, fh) > 512:
        fw, fh = fw * 512 / min(fw, fh), fh * 512 / min(fw, fh)
    return 65 + 129 * math.ceil(fw / 512) * math.ceil(fh / 512)


def _parse_size(size: str) -> tuple[int, int]:
    found = _SIZE.match(size)
    if found is None:
        raise bad_request(f"Invalid size '{size}'.", param="size", code="invalid_value")
    return int(found.group(1)), int(found.group(2))


def _check_gpt_image_2_size(width: int, height: int) -> None:
    problems = []
    if width % 16 or height % 16:
        problems.append("both edges must be multiples of 16")
    if max(width, height) > 3840:
        problems.append("the longest edge is at most 3840")
    if max(width, height) > 3 * min(width, height):
        problems.append("the aspect ratio is at most 3:1")
    if not 655_360 <= width * height <= 8_294_400:
        problems.append("the area is between 655,360 and 8,294,400 pixels")
    if problems:
        raise bad_request(
            f"Invalid size '{width}x{height}': {'; '.join(problems)}.", param="size", code="invalid_value"
        )


@dataclass(frozen=True, slots=True)
class ImagePlan:
    family: str
    n: int
    width: int
    height: int
    quality: str
    text_tokens: int
    image_tokens: int
    output_per_image: int

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def usage(self, images: int | None = None, *, details: bool = True) -> dict[str, Any] | None:
        """The ``usage`` object for ``images`` images (default: all n); None for DALL·E."""
        if self.family.startswith("dall-e"):
            return None
        count = self.n if images is None else images
        inputs = self.text_tokens + self.image_tokens
        output = count * self.output_per_image
        usage: dict[str, Any] = {
            "input_tokens": inputs,
            "input_tokens_details": {"text_tokens": self.text_tokens, "image_tokens": self.image_tokens},
            "output_tokens": output,
            "total_tokens": inputs + output,
        }
        if details:
            usage["output_tokens_details"] = {"image_tokens": output, "text_tokens": 0}
        return usage


def _text_tokens(prompt: str) -> int:
    found = _PROMPT_MARKER.search(prompt)
    if found is not None:
        return int(found.group(1))
    return len(prompt.split()) + PROMPT_OVERHEAD


def plan_images(
    model: str,
    prompt: str,
    *,
    n: int = 1,
    size: str | None = None,
    quality: str | None = None,
    input_sizes: tuple[tuple[int, int], ...] = (),
) -> ImagePlan:
    """Decide an image answer's shape and usage.

    Raises:
        MockHTTPError: 400 for a size, quality or n the model does not take.
    """
    family = family_of(model)
    if family.startswith("dall-e"):
        size = size if size not in (None, "auto") else "1024x1024"
        if size not in DALLE_SIZES[family]:
            raise bad_request(f"Invalid size '{size}' for {family}.", param="size", code="invalid_value")
        if family == "dall-e-3" and n != 1:
            raise bad_request("dall-e-3 only supports n=1.", param="n", code="invalid_value")
        width, height = _parse_size(str(size))
        q = quality if quality in ("standard", "hd") else "standard"
        return ImagePlan(family, n, width, height, q, 0, 0, 0)
    q = "high" if quality in (None, "auto") else str(quality)
    if q not in _QUALITY_FACTOR:
        raise bad_request(f"Invalid quality '{q}'.", param="quality", code="invalid_value")
    width, height = _parse_size(size if size not in (None, "auto") else "1024x1024")
    if family == "gpt-image-2":
        _check_gpt_image_2_size(width, height)
        per_image = gpt_image_2_output_tokens(q, width, height)
    else:
        per_image_or_none = OUTPUT_TABLE.get(f"{width}x{height}/{q}")
        if per_image_or_none is None:
            raise bad_request(
                f"Invalid size '{width}x{height}': use 1024x1024, 1024x1536, 1536x1024 or auto.",
                param="size",
                code="invalid_value",
            )
        per_image = per_image_or_none
    image_tokens = sum(input_image_tokens(family, w, h) for w, h in input_sizes)
    return ImagePlan(family, n, width, height, q, _text_tokens(prompt), image_tokens, per_image)


def expected_image_usage(
    model: str,
    prompt: str,
    *,
    n: int = 1,
    size: str | None = None,
    quality: str | None = None,
    input_sizes: tuple[tuple[int, int], ...] = (),
) -> dict[str, Any] | None:
    """The ``usage`` of a complete non-streaming image answer (None for DALL·E)."""
    return plan_images(model, prompt, n=n, size=size, quality=quality, input_sizes=input_sizes).usage()
