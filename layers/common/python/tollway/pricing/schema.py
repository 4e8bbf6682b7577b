"""The price-file schema.

A price file is JSON: ``{"version", "currency", "source", "as_of", "models": {name: ModelPrice}}``.
Every price is a decimal *string* in USD (never a float). A model may combine units: token prices
per 1M tokens of each class, a fixed price per call, per image (by size/quality), per audio minute,
per 1M input characters, per built-in tool call; with modifiers (long-context tiers, service tiers)
and the limits the reservation needs (context window, maximum output). An unpriced model is refused.
"""

from __future__ import annotations

import functools
import json
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

__all__ = [
    "LongContext",
    "ModelPrice",
    "PriceFile",
    "TokenPrices",
    "load_price_file",
    "merge_price_files",
    "shipped_prices",
]

TokenClass = Literal[
    "input",
    "cached_input",
    "cache_write",
    "cache_write_1h",
    "output",
    "audio_input",
    "cached_audio_input",
    "audio_output",
    "image_input",
    "cached_image_input",
    "image_output",
    "text_output",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenPrices(_Strict):
    """USD per 1M tokens of each class. A missing class falls back as documented in the engine."""

    input: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None  # Claude's 1-hour cache write (``cache_write`` is the 5-minute one)
    output: Decimal | None = None
    audio_input: Decimal | None = None
    cached_audio_input: Decimal | None = None
    audio_output: Decimal | None = None
    image_input: Decimal | None = None
    cached_image_input: Decimal | None = None
    image_output: Decimal | None = None
    text_output: Decimal | None = None

    @field_validator("*")
    @classmethod
    def _non_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError("prices must be finite and non-negative")
        return value


class LongContext(_Strict):
    """A prompt-size tier: when a request's whole input (uncached + cache reads + cache writes) is above
    ``threshold_input_tokens``, the *whole request* — output included — is repriced by ``multipliers``
    (OpenAI's long-context prices; Claude Haiku 5.5's 5× tier above 100K prompt tokens)."""

    threshold_input_tokens: int = Field(gt=0)
    multipliers: dict[TokenClass, Decimal]


class ModelPrice(_Strict):
    """Everything tollway needs to bill and bound one model."""

    endpoints: list[str] | None = Field(default=None, description="Endpoint kinds served; None = any.")
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    max_input_tokens: int | None = Field(default=None, gt=0)
    reasoning: bool = False
    tokens: TokenPrices | None = None
    per_call: Decimal | None = Field(default=None, ge=0)
    per_image: dict[str, Decimal] | None = Field(default=None, description='Key "size" or "size/quality".')
    per_minute: Decimal | None = Field(default=None, ge=0)
    per_million_characters: Decimal | None = Field(default=None, ge=0)
    tools: dict[str, Decimal] | None = Field(default=None, description="USD per built-in tool call.")
    long_context: LongContext | None = None
    service_tiers: dict[str, Decimal] | None = Field(
        default=None, description="Multiplier of token prices by the service tier the response reports."
    )
    image_output_tokens_worst_case: dict[str, int] | None = Field(
        default=None, description="Per image and quality, for models without a published token table."
    )
    image_output_tokens: dict[str, PositiveInt] | None = Field(
        default=None,
        description='Published output tokens per image, key "size/quality" (e.g. "1024x1024/high"); for reservations.',
    )
    shutdown_date: date | None = None
    note: str | None = None

    def is_free(self) -> bool:
        """True when every price of the model is zero (e.g. moderation): billed at $0, still recorded."""
        prices: list[Decimal] = []
        if self.tokens is not None:
            prices += [v for v in self.tokens.model_dump().values() if v is not None]
        prices += [v for v in (self.per_call, self.per_minute, self.per_million_characters) if v is not None]
        prices += list((self.per_image or {}).values()) + list((self.tools or {}).values())
        return all(p == 0 for p in prices)


class PriceFile(_Strict):
    """A whole price file."""

    version: Literal[1] = 1
    currency: Literal["USD"] = "USD"
    source: str
    as_of: date
    models: dict[str, ModelPrice]


def load_price_file(path: Path | str) -> PriceFile:
    """Read and validate a price file (pydantic errors name the model and field)."""
    return PriceFile.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def merge_price_files(files: list[PriceFile]) -> PriceFile:
    """One price file from several; a model priced twice is an error, never a silent override."""
    models: dict[str, ModelPrice] = {}
    for part in files:
        clash = models.keys() & part.models.keys()
        if clash:
            raise ValueError(f"models priced in more than one shipped price file: {sorted(clash)}")
        models.update(part.models)
    sources = "; ".join(dict.fromkeys(f.source for f in files))
    return PriceFile(source=sources, as_of=max(f.as_of for f in files), models=models)


@functools.cache
def shipped_prices() -> PriceFile:
    """The prices shipped with tollway: every ``tollway/pricing/prices/*.json`` (one file per area,
    each with its own source and date), merged."""
    folder = resources.files("tollway.pricing").joinpath("prices")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    files = [PriceFile.model_validate(json.loads(folder.joinpath(n).read_text(encoding="utf-8"))) for n in names]
    return merge_price_files(files)
