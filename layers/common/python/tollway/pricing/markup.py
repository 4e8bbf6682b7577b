"""Model markup: a multiplier on the shipped list price of a model or a pattern of models.

Relay operators price by multiplying the official price ("every model at list price, the GPT-4
family at 2×"), so their prices follow the shipped price file when it changes. A markup is that
multiplier, kept apart from the prices themselves:

- It applies to the **shipped** price of a model. An operator's own override (``price set``) is an
  absolute price and is used as written (a markup on top of it would price twice).
- The most specific markup wins: an exact model name, else the matching pattern with the most literal
  characters (``gpt-4.1*`` before ``gpt-4*`` before ``*``), ties broken by the pattern's text. Patterns
  use ``*`` (any run of characters) and ``?`` (one character), matched against the whole name,
  case-sensitively; Midjourney and Suno price keys (``mj:imagine:fast``) match too.
- It multiplies every USD price of the model (tokens, per call, per image, per minute, per character,
  tool fees); multipliers (long-context, service tier) and limits are unchanged. The group ratio is
  applied on top when a request is priced, and the charge is rounded up to a micro-USD once, as before:
  ``charge = ceil(usage × list price × markup × group ratio)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from tollway.pricing.schema import ModelPrice, TokenPrices

__all__ = [
    "MARKUP_MAX",
    "PATTERN",
    "PRICE_FIELDS",
    "RATE_FIELDS",
    "Markup",
    "apply_markup",
    "find_markup",
    "price_basis",
]

MARKUP_MAX = Decimal(100)
PATTERN = r"^[A-Za-z0-9*?][A-Za-z0-9._:/@+*?\-]{0,127}$"

# The fields of ModelPrice that hold USD amounts (scaled by a markup), and those that hold multipliers
# or limits (left alone). A unit test checks that every field is in exactly one of the two, so a new
# price field cannot silently escape the markup.
PRICE_FIELDS = frozenset({"tokens", "per_call", "per_image", "per_minute", "per_million_characters", "tools"})
RATE_FIELDS = frozenset(
    {
        "endpoints",
        "context_window",
        "max_output_tokens",
        "max_input_tokens",
        "reasoning",
        "long_context",
        "service_tiers",
        "image_output_tokens_worst_case",
        "image_output_tokens",
        "shutdown_date",
        "note",
    }
)


@dataclass(frozen=True, slots=True)
class Markup:
    """One markup as the operator set it."""

    pattern: str
    multiplier: Decimal
    note: str = ""
    updated_at: int = 0
    updated_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "multiplier": str(self.multiplier),
            "note": self.note,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Markup:
        return cls(
            pattern=str(data["pattern"]),
            multiplier=Decimal(str(data["multiplier"])),
            note=str(data.get("note", "")),
            updated_at=int(data.get("updated_at", 0)),
            updated_by=str(data.get("updated_by", "")),
        )


def _literal_chars(pattern: str) -> int:
    return len(re.sub(r"[*?]", "", pattern))


def find_markup(model: str, markups: dict[str, Markup]) -> Markup | None:
    """The markup that applies to ``model``, if any (exact name first, then the most specific pattern)."""
    exact = markups.get(model)
    if exact is not None:
        return exact
    matching = [m for p, m in markups.items() if ("*" in p or "?" in p) and fnmatchcase(model, p)]
    if not matching:
        return None
    return min(matching, key=lambda m: (-_literal_chars(m.pattern), m.pattern))


def _scale(values: dict[str, Decimal] | None, factor: Decimal) -> dict[str, Decimal] | None:
    return None if values is None else {k: v * factor for k, v in values.items()}


def apply_markup(price: ModelPrice, factor: Decimal) -> ModelPrice:
    """``price`` with every USD amount multiplied by ``factor`` (exactly: ``Decimal``, no rounding)."""
    if factor == 1:
        return price
    tokens = None
    if price.tokens is not None:
        scaled = {k: v * factor for k, v in price.tokens.model_dump().items() if v is not None}
        tokens = TokenPrices(**scaled)
    return price.model_copy(
        update={
            "tokens": tokens,
            "per_call": None if price.per_call is None else price.per_call * factor,
            "per_image": _scale(price.per_image, factor),
            "per_minute": None if price.per_minute is None else price.per_minute * factor,
            "per_million_characters": (
                None if price.per_million_characters is None else price.per_million_characters * factor
            ),
            "tools": _scale(price.tools, factor),
        }
    )


def price_basis(markup: Decimal, ratio: Decimal) -> dict[str, str]:
    """What a usage record says its charge was priced on, when not the plain list price."""
    basis: dict[str, str] = {}
    if markup != 1:
        basis["markup"] = str(markup)
    if ratio != 1:
        basis["ratio"] = str(ratio)
    return basis
