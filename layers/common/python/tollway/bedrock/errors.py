"""Bedrock's named errors and what each means for routing (``tollway.upstream.failures`` applies it).

Bedrock names its errors (``x-amzn-ErrorType`` on an HTTP answer, ``:exception-type`` on a stream
frame); the HTTP status alone is ambiguous (``ServiceQuotaExceededException`` is a 400, like a
``ValidationException``), so the classification is by name:

- ``ThrottlingException``, ``ServiceQuotaExceededException`` → 429 to the client, after failover;
- ``ModelNotReadyException``, ``ModelTimeoutException``, ``InternalServerException``,
  ``ServiceUnavailableException``, ``ModelErrorException``, any 5xx → the next channel;
- ``AccessDeniedException`` (model access not granted, or the role may not invoke),
  ``UnrecognizedClientException`` and signature errors → the channel is disabled with that reason;
- ``ExpiredTokenException`` → the next channel (the transport drops its cached credentials);
- ``ResourceNotFoundException`` (the model id or profile does not exist in the region) → the next channel;
- ``ValidationException`` → 400 with Bedrock's message (scrubbed), no failover: the request is at fault.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["DISABLE", "RATE_LIMITED", "RETRY", "TIMEOUT", "error_message", "error_name", "error_status"]

RATE_LIMITED = {"throttlingexception", "servicequotaexceededexception"}
# Refused credentials or signatures: nothing changes until an operator acts.
DISABLE = {
    "accessdeniedexception",
    "unrecognizedclientexception",
    "incompletesignatureexception",
    "invalidsignatureexception",
    "missingauthenticationtokenexception",
}
TIMEOUT = {"modeltimeoutexception"}
RETRY = {
    "expiredtokenexception",  # the transport drops its cached credentials; the next call gets new ones
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


def error_message(body: bytes) -> str:
    parsed = _json(body)
    return str(parsed.get("message") or parsed.get("Message") or "")
