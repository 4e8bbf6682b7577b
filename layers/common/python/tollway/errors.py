"""The one error tree of tollway, and its mapping to the OpenAI error shape.

Every failure a client can see is one of these classes. Each carries the HTTP status and the
OpenAI ``type``/``code`` it maps to, so the relay maps errors to responses in exactly one place
(``relay.errors``) and never string-matches messages::

    TollwayError
    ├── ClientError                      4xx: the request cannot be served as sent
    │   ├── InvalidRequest               400 invalid_request_error / invalid_json, invalid_body, …
    │   ├── UpstreamRejected             400 (and other upstream 4xx) passed through, cleaned
    │   ├── AuthenticationFailed         401 invalid_request_error / invalid_api_key
    │   ├── InsufficientQuota            402 insufficient_quota / insufficient_quota
    │   ├── PermissionDenied             403 permission_error / key_disabled, key_expired, …
    │   ├── NotFound                     404 invalid_request_error / model_not_found, unsupported_endpoint
    │   ├── RequestTooLarge              413 invalid_request_error / request_too_large
    │   └── RateLimited                  429 rate_limit_error / rate_limit_exceeded
    ├── UpstreamFailed                   502 upstream_error / upstream_error
    │   ├── NoAvailableChannel           503 upstream_error / no_available_channel
    │   ├── Overloaded                   529 overloaded_error / overloaded (every channel said 529)
    │   └── UpstreamTimeout              504 upstream_error / upstream_timeout
    └── StoreUnavailable                 503 api_error / store_unavailable (our own storage failed)

Messages are written for the customer. They never contain upstream URLs, keys or stack traces.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "ClientError",
    "InsufficientQuota",
    "InvalidRequest",
    "NoAvailableChannel",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "RateLimited",
    "RequestTooLarge",
    "StoreUnavailable",
    "TollwayError",
    "UpstreamFailed",
    "UpstreamRejected",
    "UpstreamTimeout",
]


class TollwayError(Exception):
    """Base of every error a client of tollway can see."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.headers = headers or {}
        self.status = status_code or self.status_code

    def to_body(self) -> dict[str, Any]:
        """The OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class ClientError(TollwayError):
    """A 4xx: the request cannot be served as sent."""

    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class InvalidRequest(ClientError):
    """Malformed JSON, wrong types, broken multipart (400)."""

    default_code = "invalid_body"


class UpstreamRejected(ClientError):
    """An upstream 4xx the client must see (context too long, content policy), cleaned of secrets."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str,
        code: str | None,
        param: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code or "upstream_rejected", param=param, status_code=status_code)
        self.upstream_type = error_type
        self.upstream_code = code
        self.extra = extra or {}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.upstream_type,
            "param": self.param,
            "code": self.upstream_code,
        }
        error.update(self.extra)
        return {"error": error}


class AuthenticationFailed(ClientError):
    """Missing, malformed or unknown key (401). No usage record: there is no account to charge."""

    status_code = 401
    default_code = "invalid_api_key"


class InsufficientQuota(ClientError):
    """The balance or the key's limit cannot pay for the request (402, so SDKs do not retry)."""

    status_code = 402
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


class PermissionDenied(ClientError):
    """The key or account may not do this (403): key_disabled, key_expired, account_disabled, …"""

    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFound(ClientError):
    """Unknown or unpriced model, or an endpoint this relay does not serve (404)."""

    status_code = 404
    default_code = "not_found"


class RequestTooLarge(ClientError):
    """The body is over tollway's request limit (413); the message states the limit."""

    status_code = 413
    default_code = "request_too_large"


class RateLimited(ClientError):
    """Every channel answered 429, or the key's request-rate limit was hit (429, Retry-After)."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamFailed(TollwayError):
    """The upstream failed after retries (502)."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class NoAvailableChannel(UpstreamFailed):
    """No enabled channel serves this model for the key's group (503)."""

    status_code = 503
    default_code = "no_available_channel"


class Overloaded(UpstreamFailed):
    """Every channel tried answered 529 (Anthropic's "overloaded"): passed through as 529 so clients back off."""

    status_code = 529
    error_type = "overloaded_error"
    default_code = "overloaded"


class UpstreamTimeout(UpstreamFailed):
    """The upstream did not answer in time (504)."""

    status_code = 504
    default_code = "upstream_timeout"


class StoreUnavailable(TollwayError):
    """tollway's own storage failed after retries (503); nothing was charged."""

    status_code = 503
    error_type = "api_error"
    default_code = "store_unavailable"
