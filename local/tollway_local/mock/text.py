"""Deterministic completion text: words of a fixed vocabulary chosen by a PRNG seeded from the messages.

Each token is one word with a leading space (" lorem"). The same messages give the same tokens, and a
shorter answer is a prefix of a longer one. Every vocabulary word is pre-serialised once (JSON string and
SSE fragments are built from these bytes), so per-token work in a stream is a lookup and a join.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Sequence

VOCABULARY: tuple[str, ...] = tuple(
    " " + word
    for word in (
        "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
        "dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea "
        "commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur "
        "excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum "
        "curabitur vitae"
    ).split()
)
if len(VOCABULARY) != 64:  # token ids are drawn with getrandbits(6)
    raise RuntimeError("the mock vocabulary must have exactly 64 words")

#: `orjson.dumps(word)` for each vocabulary word.
VOCABULARY_JSON: tuple[bytes, ...] = tuple(orjson.dumps(word) for word in VOCABULARY)


def messages_seed(messages: Sequence[Any]) -> int:
    """A 64-bit seed from the canonical JSON of the messages (key order does not matter)."""
    digest = hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "big")


def token_ids(seed: int, choice_index: int, count: int) -> list[int]:
    """The vocabulary indexes of the first `count` tokens of choice `choice_index`."""
    rng = random.Random(seed + choice_index)
    bits = rng.getrandbits
    return [bits(6) for _ in range(count)]


def completion_text(messages: Sequence[Any], count: int, choice_index: int = 0) -> str:
    """The visible text the mock answers for `messages` with `count` tokens (for tests)."""
    return "".join(VOCABULARY[i] for i in token_ids(messages_seed(messages), choice_index, count))
