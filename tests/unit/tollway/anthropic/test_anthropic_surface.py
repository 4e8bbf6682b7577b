"""Anthropic's error shape, the model catalogue shape, and the conversation key for sticky routing."""

from __future__ import annotations

import pytest
from tollway.anthropic.affinity import conversation_key
from tollway.anthropic.errors import anthropic_error
from tollway.anthropic.models import display_name, model_page
from tollway.errors import (
    AuthenticationFailed,
    InsufficientQuota,
    InvalidRequest,
    NoAvailableChannel,
    NotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    TollwayError,
    UpstreamRejected,
    UpstreamTimeout,
)


@pytest.mark.parametrize(
    ("error", "status", "etype"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (AuthenticationFailed("x"), 401, "authentication_error"),
        (InsufficientQuota("x"), 402, "billing_error"),
        (PermissionDenied("x"), 403, "permission_error"),
        (NotFound("x"), 404, "not_found_error"),
        (RequestTooLarge("x"), 413, "request_too_large"),
        (RateLimited("x", headers={"Retry-After": "3"}), 429, "rate_limit_error"),
        (TollwayError("x"), 500, "api_error"),
        (NoAvailableChannel("x"), 503, "api_error"),
        (UpstreamTimeout("x"), 504, "timeout_error"),
        (Overloaded("x"), 529, "overloaded_error"),
    ],
)
def test_error_table(error: TollwayError, status: int, etype: str) -> None:
    got_status, body, headers = anthropic_error(error, "req_1")
    assert got_status == status
    assert body == {"type": "error", "error": {"type": etype, "message": "x"}, "request_id": "req_1"}
    assert (headers.get("x-should-retry") == "false") == (status == 402)
    if status == 429:
        assert headers["Retry-After"] == "3"


def test_an_anthropic_upstreams_own_type_passes_through() -> None:
    rejected = UpstreamRejected("too long", status_code=400, error_type="invalid_request_error", code=None, param=None)
    assert anthropic_error(rejected, None)[1]["error"]["type"] == "invalid_request_error"
    openai_type = UpstreamRejected("bad", status_code=400, error_type="server_error", code=None, param=None)
    assert anthropic_error(openai_type, None)[1]["error"]["type"] == "invalid_request_error"


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
