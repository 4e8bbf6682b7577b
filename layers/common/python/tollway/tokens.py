"""Token counts without a tokenizer download.

``bound``: a conservative upper bound for reservations. Every BPE token of OpenAI's encodings covers
at least one byte, and a JSON request spends more bytes on each message's structure than the few
tokens of per-message overhead, so the byte length of the request body bounds its input tokens
(images and audio excepted: endpoints add their own bounds for those).

``estimate``: the best count available to settle a request whose upstream sent no usage (≈4 characters
per token, the usual figure for English, plus per-message overhead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["estimate_text_tokens", "input_bound_from_body"]


def input_bound_from_body(body: bytes) -> int:
    return len(body)


def estimate_text_tokens(texts: Iterable[str], *, per_item_overhead: int = 0, base: int = 0) -> int:
    total = base
    for text in texts:
        total += per_item_overhead + math.ceil(len(text) / 4)
    return total
