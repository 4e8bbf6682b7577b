"""What a Bedrock error means for routing: fail over, disable the channel, or tell the client.

Bedrock names its errors (``x-amzn-ErrorType`` on an HTTP answer, ``:exception-type`` on a stream
frame); the HTTP status alone is ambiguous (``ServiceQuotaExceededException`` is a 400, like a
``ValidationException``), so the classification is by name:

- ``ThrottlingException``, ``ServiceQuotaExceededException`` → 429 to the client, after failover;
- ``ModelNotReadyException``, ``ModelTimeoutException``, ``InternalServerException``,
  ``ServiceUnavailableException``, ``ModelErrorException``, any 5xx → the next channel;
- ``AccessDeniedException`` (model access not granted, or the role may not invoke) and
  ``UnrecognizedClientException`` / ``ExpiredTokenException`` → the channel is disabled with that reason;
- ``ResourceNotFoundException`` (the model id or profile does not exist in the region) → the next channel;
- ``ValidationException`` → 400 with Bedrock's message (scrubbed), no failover: the request is at fault.
"""

from __future__ import annotations

from typing import Any

import orjson
from tollway.errors import RateLimited, UpstreamFailed, UpstreamRejected, UpstreamTimeout
from tollway.upstream.failures import Failure, FailureKind, scrub

__all__ = ["classify_bedrock", "error_name", "error_status"]

_RATE = {"throttlingexception", "servicequotaexceededexception"}
# Refused credentials or signatures: nothing changes until an operator acts.
_DISABLE = {
    "accessdeniedexception",
    "unrecognizedclientexception",
    "expiredtokenexception",
    "incompletesignatureexception",
    "invalidsignatureexception",
    "missingauthenticationtokenexception",
}
_TIMEOUT = {"modeltimeoutexception"}
_RETRY = {
    "modelnotreadyexception",
    "internalserverexception",
    "serviceunavailableexception",
    "modelerrorexception",
    "modelstreamerrorexception",
    "resourcenotfoundexception",
}
# The HTTP status Bedrock gives each error (used for stream exception frames, which carry no status).
_STATUS = {
    "throttlingexception": 429,
    "servicequotaexceededexception": 400,
    "modelnotreadyexception": 429,
    "accessdeniedexception": 403,
    "validationexception": 400,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "modelerrorexception": 424,
    "modelstreamerrorexception": 424,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}


def error_name(headers: dict[str, str], body: bytes) -> str:
    """The error's short name (``ThrottlingException``) from the header or the body's ``__type``."""
    raw = headers.get("x-amzn-errortype") or ""
    if not raw:
        parsed = _json(body)
        raw = str(parsed.get("__type") or parsed.get("code") or "")
    # The header carries "Name:namespace-url"; a JSON body may carry "namespace#Name".
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def error_status(name: str) -> int:
    return _STATUS.get(name.lower(), 500)


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _message(body: bytes) -> str:
    parsed = _json(body)
    return str(parsed.get("message") or parsed.get("Message") or "")


def classify_bedrock(status: int, name: str, body: bytes, headers: dict[str, str]) -> Failure:
    """Classify a Bedrock error answer (``body`` its first bytes, ``{"message": …}``)."""
    key = name.lower()
    generic = UpstreamFailed(f"The upstream service failed (HTTP {status}).")
    if key in _RATE:
        retry_after = headers.get("retry-after")
        rl = RateLimited(
            "Every upstream channel is rate limited; retry later.",
            headers={"Retry-After": retry_after} if retry_after else {},
        )
        return Failure(FailureKind.RETRYABLE, rl, status, rate_limited=True)
    if key in _DISABLE:
        reason = f"Bedrock {name}: {scrub(_message(body), 200)}".rstrip(": ")
        return Failure(FailureKind.RETRYABLE, generic, status, disable_reason=reason)
    if key in _TIMEOUT:
        return Failure(FailureKind.RETRYABLE, UpstreamTimeout("The upstream service timed out."), status)
    if key in _RETRY or status >= 500 or status == 429:
        return Failure(FailureKind.RETRYABLE, generic, status)
    message = scrub(_message(body) or f"The upstream rejected the request (HTTP {status}).")
    rejected = UpstreamRejected(
        message,
        status_code=400 if key == "validationexception" or not 400 <= status < 500 else status,
        error_type="invalid_request_error",
        code=None,
        param=None,
    )
    return Failure(FailureKind.TERMINAL, rejected, status)
