"""Hypothesis strategies for hostile JSON: any value a parser may hand tollway, and "valid-looking"
documents — a well-formed template with random subtrees replaced by arbitrary JSON, keys dropped and
items added — which reach much deeper into the walkers than arbitrary JSON does."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON", "WORDS", "mutated"]

#: Strings the walkers compare against (part and tool types, event kinds, formats), so a drawn value is
#: often the one a branch looks for, next to arbitrary text.
WORDS = (
    "image_url",
    "input_image",
    "input_file",
    "input_text",
    "text",
    "function",
    "web_search",
    "image_generation",
    "shell",
    "mcp",
    "tool_search",
    "local",
    "client",
    "response.completed",
    "response.failed",
    "response.output_item.done",
    "error",
    "low",
    "high",
    "auto",
    "tokens",
    "duration",
    "json",
    "gif",
    "[DONE]",
    "data:image/png;base64,iVBORw0KGgo=",
    "1e999999",
)

#: Any JSON value orjson can produce (integers beyond 64 bits arrive as floats, so none are drawn).
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(WORDS)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | st.sampled_from(WORDS), inner, max_size=3)
    ),
    max_leaves=10,
)


def mutated(template: Any) -> st.SearchStrategy[Any]:
    """``template`` with, at every node, a 1-in-8 chance of becoming arbitrary JSON; object keys are
    dropped now and then and lists may grow an arbitrary item."""

    @st.composite
    def go(draw: st.DrawFn, node: Any) -> Any:
        if draw(st.integers(0, 7)) == 0:
            return draw(JSON)
        if isinstance(node, dict):
            return {k: draw(go(v)) for k, v in node.items() if draw(st.integers(0, 11))}
        if isinstance(node, list):
            items = [draw(go(v)) for v in node]
            if draw(st.integers(0, 3)) == 0:
                items.insert(draw(st.integers(0, len(items))), draw(JSON))
            return items
        return node

    return go(template)
