"""Hypothesis strategies for upstream events of any shape (the meters' property tests share them)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON", "shaped"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def shaped(template: Any) -> Any:
    """``template`` with any of its values (at any depth) possibly replaced by any JSON value."""
    if isinstance(template, dict):
        return st.fixed_dictionaries({k: st.one_of(shaped(v), JSON) for k, v in template.items()})
    if isinstance(template, list):
        return st.lists(st.one_of(*[shaped(v) for v in template], JSON), max_size=3)
    return st.one_of(st.just(template), JSON)
