"""Calls to an Anthropic channel: the channel key as x-api-key, the client's protocol headers forwarded,
nothing else of the client's; and what Anthropic's failures mean for the channel."""

from __future__ import annotations

import orjson
from tollway.config.model import Channel
from tollway.errors import Overloaded
from tollway.upstream.client import build_request_target
from tollway.upstream.failures import FailureKind, classify_response


def anthropic(base: str = "https://api.anthropic.com") -> Channel:
    return Channel(channel_id="c", name="c", type="anthropic", base_url=base, models=("m",), headers={"x-extra": "1"})


def test_target_uses_x_api_key_and_forwards_protocol_headers() -> None:
    url, headers = build_request_target(
        anthropic(),
        "/v1/messages",
        "m",
        "sk-ant",
        protocol_headers={"anthropic-beta": "a,b", "anthropic-version": "2026-10-21"},
    )
    assert url == "https://api.anthropic.com/v1/messages"
    assert headers["x-api-key"] == "sk-ant" and "authorization" not in headers
    assert headers["anthropic-beta"] == "a,b" and headers["anthropic-version"] == "2026-10-21"
    assert headers["x-extra"] == "1"


def test_default_version_and_a_base_given_with_v1() -> None:
    url, headers = build_request_target(anthropic("http://127.0.0.1:9/v1/"), "/v1/messages/count_tokens", "m", None)
    assert url == "http://127.0.0.1:9/v1/messages/count_tokens"
    assert headers["anthropic-version"] == "2023-06-01" and "x-api-key" not in headers


def body(etype: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": etype, "message": message}})


def test_anthropic_failures() -> None:
    overloaded = classify_response(529, body("overloaded_error", "Overloaded"), {})
    assert overloaded.kind is FailureKind.RETRYABLE and isinstance(overloaded.error, Overloaded)
    assert overloaded.error.status == 529 and overloaded.disable_reason is None
    denied = classify_response(403, body("permission_error", "no access"), {})
    assert denied.kind is FailureKind.RETRYABLE and denied.disable_reason
    broke = classify_response(
        400, body("invalid_request_error", "Your credit balance is too low to access the API."), {}
    )
    assert broke.kind is FailureKind.RETRYABLE and broke.disable_reason == "upstream account out of credit"
    invalid = classify_response(400, body("invalid_request_error", "messages: too long"), {})
    assert invalid.kind is FailureKind.TERMINAL
    assert classify_response(401, body("authentication_error", "bad key"), {}).disable_reason
