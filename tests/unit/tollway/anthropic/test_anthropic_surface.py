"""Anthropic's error shape, the model catalogue shape, and the conversation key for sticky routing."""

from __future__ import annotations

from tollway.anthropic.affinity import conversation_key
from tollway.anthropic.models import display_name, model_page


def test_display_names_and_pages() -> None:
    assert display_name("claude-opus-5-5") == "Claude Opus 5.5"
    assert display_name("claude-haiku-4-5-20251001") == "Claude Haiku 4.5"
    assert display_name("gpt-x") == "gpt-x"
    models = [{"id": f"m{i}"} for i in range(5)]
    first = model_page(models, limit=2)
    assert [m["id"] for m in first["data"]] == ["m0", "m1"] and first["has_more"] and first["last_id"] == "m1"
    nxt = model_page(models, limit=2, after_id="m3")
    assert [m["id"] for m in nxt["data"]] == ["m4"] and not nxt["has_more"]
    back = model_page(models, limit=2, before_id="m3")
    assert [m["id"] for m in back["data"]] == ["m1", "m2"] and back["has_more"]


def test_conversation_key_order() -> None:
    body = {"system": "s", "messages": [{"role": "user", "content": "first"}], "metadata": {"user_id": "u1"}}
    assert conversation_key(body, {"x-claude-code-session-id": "sess"}) == "session:sess"
    assert conversation_key(body, {}) == "user:u1"
    plain = {"system": "s", "messages": [{"role": "user", "content": "first"}]}
    later = {
        **plain,
        "messages": [*plain["messages"], {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}],
    }
    # Every later turn repeats the stable prefix: the same key.
    assert conversation_key(plain, {}) == conversation_key(later, {})
    assert conversation_key({**plain, "system": "other"}, {}) != conversation_key(plain, {})
    assert conversation_key({"messages": []}, {}) is None
