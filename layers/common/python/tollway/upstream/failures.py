"""What an upstream failure means: try another channel, pass it to the client, or disable the channel.

Upstream text is never shown to a customer when it could carry a secret: 5xx bodies are replaced by
a generic message, and the 4xx messages that are passed through are scrubbed of URLs and key-like
strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from tollway.bedrock import errors as aws_errors
from tollway.errors import Overloaded, RateLimited, TollwayError, UpstreamFailed, UpstreamRejected, UpstreamTimeout

__all__ = ["Failure", "FailureKind", "classify_response", "classify_transport_error", "scrub"]

_URL = re.compile(r"(?i)\b(?:https?|wss?)://[^\s\"'<>]+")
_KEYLIKE = re.compile(
    r"(?i)\b(?:sk|pk|rk|key|sess|org|proj)[-_][A-Za-z0-9_\-]{6,}|\bBearer\s+\S+|\b[A-Za-z0-9+/_\-]{32,}"
)


def scrub(text: str, limit: int = 500) -> str:
    """Remove URLs and key-like strings from an upstream message before a customer sees it."""
    text = _URL.sub("[url]", text)
    text = _KEYLIKE.sub("[redacted]", text)
    return text[:limit]


class FailureKind(StrEnum):
    RETRYABLE = "retryable"  # try the next channel (nothing has reached the client yet)
    TERMINAL = "terminal"  # the client must see it (its own request is at fault)


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    error: TollwayError  # what the client gets if this is the last failure
    upstream_status: int | None = None
    disable_reason: str | None = None  # disable the channel automatically, with this reason
    rate_limited: bool = False
    evict_secret: bool = False


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error: dict[str, Any] = parsed["error"]
        return error
    return {}


def classify_response(status: int, body: bytes, headers: dict[str, str]) -> Failure:
    """Classify a non-2xx upstream answer (``body`` is its first bytes)."""
    if "x-amzn-errortype" in headers:
        # An AWS service (Bedrock) names its errors; its statuses alone are ambiguous.
        return _classify_aws(status, aws_errors.error_name(headers, body), body, headers)
    error = _error_object(body)
    code = str(error.get("code") or "")
    etype = str(error.get("type") or "")
    generic = UpstreamFailed(f"The upstream service failed (HTTP {status}).")
    if status == 401:
        return Failure(
            FailureKind.RETRYABLE,
            generic,
            status,
            disable_reason="upstream rejected the channel key (401)",
            evict_secret=True,
        )
    if status == 402 or (status == 429 and "insufficient_quota" in (code, etype)) or _out_of_credit(status, error):
        return Failure(FailureKind.RETRYABLE, generic, status, disable_reason="upstream account out of credit")
    if status == 429:
        rl = RateLimited("Every upstream channel is rate limited; retry later.", retry_after=headers.get("retry-after"))
        return Failure(FailureKind.RETRYABLE, rl, status, rate_limited=True)
    if status == 403 and etype == "permission_error":
        # Anthropic's answer for a key that may not use the API at all: the channel is unusable.
        return Failure(FailureKind.RETRYABLE, generic, status, disable_reason="upstream refused the channel key (403)")
    if status == 529:
        return Failure(FailureKind.RETRYABLE, Overloaded("The upstream is overloaded; retry later."), status)
    if status in (403, 404, 408, 409) or status >= 500:
        if status == 408 or status == 504:
            return Failure(FailureKind.RETRYABLE, UpstreamTimeout("The upstream service timed out."), status)
        if status == 404:
            return Failure(FailureKind.RETRYABLE, _passthrough(status, error), status)
        return Failure(FailureKind.RETRYABLE, generic, status)
    return Failure(FailureKind.TERMINAL, _passthrough(status, error), status)


def _out_of_credit(status: int, error: dict[str, Any]) -> bool:
    """Anthropic reports an exhausted prepaid balance as a 400 whose message names the credit balance."""
    return status == 400 and "credit balance is too low" in str(error.get("message") or "").lower()


def _classify_aws(status: int, name: str, body: bytes, headers: dict[str, str]) -> Failure:
    """A named AWS error (the table in ``tollway.bedrock.errors``): 429 and failover for throttling,
    disable for refused credentials, failover for the service's own failures, else the client's 400."""
    key = name.lower()
    generic = UpstreamFailed(f"The upstream service failed (HTTP {status}).")
    if key in aws_errors.RATE_LIMITED:
        rl = RateLimited("Every upstream channel is rate limited; retry later.", retry_after=headers.get("retry-after"))
        return Failure(FailureKind.RETRYABLE, rl, status, rate_limited=True)
    if key in aws_errors.DISABLE:
        reason = f"Bedrock {name}: {scrub(aws_errors.error_message(body), 200)}".rstrip(": ")
        return Failure(FailureKind.RETRYABLE, generic, status, disable_reason=reason)
    if key in aws_errors.TIMEOUT:
        return Failure(FailureKind.RETRYABLE, UpstreamTimeout("The upstream service timed out."), status)
    if key in aws_errors.RETRY or status >= 500 or status == 429:
        return Failure(FailureKind.RETRYABLE, generic, status)
    message = scrub(aws_errors.error_message(body) or f"The upstream rejected the request (HTTP {status}).")
    code = 400 if key == "validationexception" or not 400 <= status < 500 else status
    rejected = UpstreamRejected(message, status_code=code, error_type="invalid_request_error", code=None, param=None)
    return Failure(FailureKind.TERMINAL, rejected, status)


def _passthrough(status: int, error: dict[str, Any]) -> UpstreamRejected:
    message = scrub(str(error.get("message") or f"The upstream rejected the request (HTTP {status})."))
    param = error.get("param")
    extra = {}
    details = error.get("moderation_details")
    if isinstance(details, dict):
        extra["moderation_details"] = details
    return UpstreamRejected(
        message,
        status_code=status if 400 <= status < 500 else 400,
        error_type=str(error.get("type") or "invalid_request_error"),
        code=str(error["code"]) if error.get("code") is not None else None,
        param=str(param) if param is not None else None,
        extra=extra,
    )


def classify_transport_error(timeout: bool) -> Failure:
    """A connection that failed before any answer: always another channel's turn."""
    if timeout:
        return Failure(FailureKind.RETRYABLE, UpstreamTimeout("The upstream service timed out."))
    return Failure(FailureKind.RETRYABLE, UpstreamFailed("The upstream service could not be reached."))
