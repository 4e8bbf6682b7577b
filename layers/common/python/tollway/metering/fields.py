"""Readers of an upstream answer's fields that take any shape: an odd value counts as none, never raises."""

from __future__ import annotations

from typing import Any

__all__ = ["count", "dicts", "obj"]


def count(value: Any) -> int:
    """A usage count: a positive int, anything else (missing, null, negative, wrong type) 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def obj(value: Any) -> dict[str, Any]:
    """An object of an upstream's answer (a usage breakdown); any other shape counts as an empty one."""
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list (``choices``, ``output``), skipping anything else an upstream might send."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
