"""Metered usage of one request, normalised across APIs (OpenAI semantics: totals include details)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

__all__ = ["Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one request consumed.

    Token totals follow OpenAI's usage objects: ``input_tokens`` includes the cached, cache-write,
    audio and image input tokens; ``output_tokens`` includes reasoning, audio and image output tokens.
    (OpenAI's organisation-usage schema states uncached input "excludes cache-write tokens", and its
    example has input 1000 = 400 cached + 100 cache-write + 500 uncached: cache writes sit inside
    ``input_tokens``.) Claude's additive counts are converted once, at the edge
    (``tollway.anthropic.usage``): input = uncached + cache reads + cache writes, where the writes
    split into 5-minute (``cache_write_tokens − cache_write_1h_tokens``) and 1-hour ones.
    """

    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0  # the part of ``cache_write_tokens`` written for one hour (Claude)
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    seconds: Decimal = Decimal(0)
    characters: int = 0
    images: int = 0
    image_variant: str | None = None
    tool_calls: dict[str, int] = field(default_factory=dict)
    service_tier: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"usage {f.name} must not be negative: {value}")
        if self.seconds < 0:
            raise ValueError("usage seconds must not be negative")

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def tokens_dict(self) -> dict[str, int]:
        """The token counts a usage record keeps (zeros omitted)."""
        out = {
            "input": self.input_tokens,
            "cached": self.cached_tokens,
            "cache_write": self.cache_write_tokens,
            "cache_write_1h": self.cache_write_1h_tokens,
            "output": self.output_tokens,
            "reasoning": self.reasoning_tokens,
            "audio_input": self.audio_input_tokens,
            "audio_output": self.audio_output_tokens,
            "image_input": self.image_input_tokens,
            "image_output": self.image_output_tokens,
        }
        return {k: v for k, v in out.items() if v}

    def units_dict(self) -> dict[str, Any]:
        """The non-token units a usage record keeps (zeros omitted)."""
        out: dict[str, Any] = {}
        if self.seconds:
            out["seconds"] = str(self.seconds)
        if self.characters:
            out["characters"] = self.characters
        if self.images:
            out["images"] = self.images
        if self.tool_calls:
            out["tool_calls"] = dict(self.tool_calls)
        return out
