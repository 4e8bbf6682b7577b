from __future__ import annotations

import orjson
import pytest
from tollway.errors import RateLimited, UpstreamFailed, UpstreamRejected, UpstreamTimeout
from tollway.upstream.failures import FailureKind, classify_response, scrub


def body(**error: object) -> bytes:
    return orjson.dumps({"error": error})


def test_5xx_is_retryable_and_never_shows_upstream_text() -> None:
    failure = classify_response(503, body(message="db at http://10.0.0.3 key sk-abcdefghijklmnop"), {})
    assert failure.kind is FailureKind.RETRYABLE
    assert isinstance(failure.error, UpstreamFailed)
    assert "10.0.0.3" not in failure.error.message and "sk-" not in failure.error.message


def test_401_disables_the_channel_and_evicts_its_key() -> None:
    failure = classify_response(401, body(code="invalid_api_key"), {})
    assert failure.disable_reason and failure.evict_secret and failure.kind is FailureKind.RETRYABLE


@pytest.mark.parametrize(("status", "code"), [(429, "insufficient_quota"), (402, None)])
def test_out_of_credit_disables_the_channel(status: int, code: str | None) -> None:
    assert classify_response(status, body(code=code, type=code), {}).disable_reason


def test_429_carries_retry_after() -> None:
    failure = classify_response(429, body(code="rate_limit_exceeded"), {"retry-after": "7"})
    assert failure.rate_limited and isinstance(failure.error, RateLimited)
    assert failure.error.retry_after == "7"


def test_400_is_passed_through_cleaned() -> None:
    failure = classify_response(
        400,
        body(
            message="too long, see https://internal.example/x",
            type="invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        ),
        {},
    )
    assert failure.kind is FailureKind.TERMINAL
    assert isinstance(failure.error, UpstreamRejected)
    error = failure.error  # its OpenAI body is relay.errors' (tests/unit/relay/test_errors.py)
    assert error.upstream_code == "context_length_exceeded" and error.param == "messages"
    assert error.upstream_type == "invalid_request_error"
    assert "internal.example" not in error.message


def test_504_is_a_timeout() -> None:
    assert isinstance(classify_response(504, b"", {}).error, UpstreamTimeout)


def test_scrub_removes_keys_and_urls() -> None:
    text = scrub("Bearer abc.def sk-proj-AAAAAAAAAA https://x.y/z " + "Q" * 40)
    assert "abc.def" not in text and "sk-proj" not in text and "x.y" not in text and "Q" * 40 not in text
