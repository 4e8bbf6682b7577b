"""Bedrock errors classified by name: failover, 429, disable with the reason, or a 400 with the message."""

from __future__ import annotations

import pytest
from tollway.errors import RateLimited, UpstreamFailed, UpstreamRejected, UpstreamTimeout
from tollway.upstream.failures import FailureKind, classify_response


def _classify(status: int, name: str, message: str = "boom") -> object:
    headers = {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return classify_response(status, b'{"message":"%s"}' % message.encode(), headers)


@pytest.mark.parametrize(("status", "name"), [(429, "ThrottlingException"), (400, "ServiceQuotaExceededException")])
def test_throttling_and_quota_fail_over_then_answer_429(status: int, name: str) -> None:
    failure = _classify(status, name)
    assert failure.kind is FailureKind.RETRYABLE and failure.rate_limited  # type: ignore[attr-defined]
    assert isinstance(failure.error, RateLimited)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (429, "ModelNotReadyException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
        (424, "ModelErrorException"),
        (404, "ResourceNotFoundException"),
        (502, "SomethingNew"),
    ],
)
def test_not_ready_and_server_errors_fail_over(status: int, name: str) -> None:
    failure = _classify(status, name)
    assert failure.kind is FailureKind.RETRYABLE  # type: ignore[attr-defined]
    assert not failure.rate_limited and failure.disable_reason is None  # type: ignore[attr-defined]
    assert isinstance(failure.error, UpstreamFailed)  # type: ignore[attr-defined]


def test_model_timeout_is_a_timeout() -> None:
    assert isinstance(_classify(408, "ModelTimeoutException").error, UpstreamTimeout)  # type: ignore[attr-defined]


def test_access_denied_disables_the_channel_with_the_reason() -> None:
    failure = _classify(403, "AccessDeniedException", "You don't have access to the model with the specified model ID.")
    assert failure.kind is FailureKind.RETRYABLE  # type: ignore[attr-defined]
    assert failure.disable_reason == (  # type: ignore[attr-defined]
        "Bedrock AccessDeniedException: You don't have access to the model with the specified model ID."
    )


def test_validation_is_a_400_with_the_message_and_no_failover() -> None:
    failure = _classify(400, "ValidationException", "max_tokens: must be at most 64000")
    assert failure.kind is FailureKind.TERMINAL  # type: ignore[attr-defined]
    error = failure.error  # type: ignore[attr-defined]
    assert isinstance(error, UpstreamRejected) and error.status_code == 400
    assert "max_tokens: must be at most 64000" in str(error)


def test_the_name_may_come_from_the_body() -> None:
    failure = classify_response(400, b'{"__type":"com.amazon.coral#ThrottlingException"}', {"x-amzn-errortype": ""})
    assert failure.rate_limited


def test_messages_are_scrubbed() -> None:
    failure = _classify(400, "ValidationException", "see https://example.com/x?k=AKIA1234567890ABCDEFGHIJKLMNOPQRSTU")
    assert "https://" not in str(failure.error)  # type: ignore[attr-defined]


def test_an_expired_token_fails_over_without_disabling() -> None:
    failure = _classify(403, "ExpiredTokenException", "The security token included in the request is expired")
    assert failure.kind is FailureKind.RETRYABLE and failure.disable_reason is None  # type: ignore[attr-defined]
