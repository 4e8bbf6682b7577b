"""The model catalogue in Anthropic's shape (``GET /v1/models`` when the request has ``anthropic-version``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tollway.pricing.schema import ModelPrice

__all__ = ["display_name", "model_info", "model_page"]

# No release date is known for a relayed model; the epoch says so rather than inventing one.
_CREATED = "1970-01-01T00:00:00Z"


def display_name(model: str) -> str:
    """``claude-opus-5-5`` → ``Claude Opus 5.5``; other ids are shown as they are."""
    if not model.startswith("claude-"):
        return model
    words = model.split("-")
    out: list[str] = []
    for word in words:
        if word.isdigit() and len(word) == 8:
            break  # a snapshot date
        if out and out[-1][-1:].isdigit() and word.isdigit():
            out[-1] += "." + word
        else:
            out.append(word.capitalize() if not word.isdigit() else word)
    return " ".join(out)


def model_info(model: str, price: ModelPrice | None) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "model", "id": model, "display_name": display_name(model), "created_at": _CREATED}
    if price is not None:
        if price.max_input_tokens or price.context_window:
            info["max_input_tokens"] = price.max_input_tokens or price.context_window
        if price.max_output_tokens:
            info["max_tokens"] = price.max_output_tokens
    return info


def model_page(
    models: Sequence[dict[str, Any]], *, limit: int = 20, after_id: str | None = None, before_id: str | None = None
) -> dict[str, Any]:
    """One page of ``models`` (cursor by id, as Anthropic pages: ``after_id`` / ``before_id``)."""
    ids = [m["id"] for m in models]
    start, end = 0, len(models)
    if after_id is not None and after_id in ids:
        start = ids.index(after_id) + 1
    if before_id is not None and before_id in ids:
        end = ids.index(before_id)
        start = max(start, end - limit)
    page = list(models[start:end][:limit])
    return {
        "data": page,
        "has_more": start + len(page) < end if before_id is None else start > 0,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
