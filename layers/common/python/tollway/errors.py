"""The one error tree of tollway: every failure a client can see is one of these classes.

An error carries what is true whatever the wire format: a stable ``code`` (what usage records and
logs keep), a status class (the HTTP status it belongs to), a message for the customer, and optional
``param``/``details`` (a rate limit also says when to retry). How it looks on the wire is each protocol
adapter's business, in one mapping table per format (docs/architecture.md, "Errors"): ``relay.errors`` (OpenAI),
``relay.routes.anthropic_errors`` (Anthropic), ``relay.mj.errors`` (the Midjourney envelope),
``relay.suno.errors`` (new-api's task shape) and ``tollway.admin.errors`` (the admin envelope)::

    TollwayError                         500 internal_error
    ├── ClientError                      400 invalid_request: the request cannot be served as sent
    │   ├── InvalidRequest               400 invalid_body (invalid_json, unsupported_parameter, …)
    │   │   └── InvalidArguments         400 invalid_args: an admin command's arguments
    │   ├── UpstreamRejected             the upstream's own 4xx, passed through cleaned of secrets
    │   ├── AuthenticationFailed         401 invalid_api_key
    │   ├── InsufficientQuota            402 insufficient_quota: the balance or a key limit cannot pay
    │   ├── PermissionDenied             403 permission_denied (key_disabled, model_not_allowed, …)
    │   ├── NotFound                     404 not_found (model_not_found, unknown_route, …)
    │   │   ├── TaskNotFound             404 task_not_found: also another account's task
    │   │   └── UnknownCommand           404 unknown_command: no such admin command
    │   ├── Conflict                     409 conflict: the state forbids it (code used, e-mail taken, …)
    │   │   └── InsufficientBalance      409 insufficient_balance: an operator debit the balance cannot take
    │   ├── RedeemRefused                400 code_invalid/code_disabled/code_expired: nothing credited
    │   │   ├── RedeemConflict           409 code_used
    │   │   └── RedeemForbidden          403 code_group, account_disabled, key_disabled, key_expired
    │   ├── RequestTooLarge              413 request_too_large
    │   └── RateLimited                  429 rate_limit_exceeded (``retry_after``: the Retry-After value)
    ├── UpstreamFailed                   502 upstream_error: the upstream failed after retries
    │   ├── NoAvailableChannel           503 no_available_channel
    │   ├── Overloaded                   529 overloaded: every channel said 529
    │   └── UpstreamTimeout              504 upstream_timeout
    └── StoreUnavailable                 503 store_unavailable: tollway's own storage failed

A new error goes under the class whose status class it shares, with its own ``default_code``; give it a
class of its own only when some wire format answers it differently (the mapping tests walk this tree
and fail for a class no table can answer). Messages are written for the customer: never upstream URLs,
keys or stack traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

__all__ = [
    "AuthenticationFailed",
    "ClientError",
    "Conflict",
    "InsufficientBalance",
    "InsufficientQuota",
    "InvalidArguments",
    "InvalidRequest",
    "NoAvailableChannel",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "RateLimited",
    "RedeemConflict",
    "RedeemForbidden",
    "RedeemRefused",
    "RequestTooLarge",
    "StoreUnavailable",
    "TaskNotFound",
    "TollwayError",
    "UnknownCommand",
    "UpstreamFailed",
    "UpstreamRejected",
    "UpstreamTimeout",
    "wire_row",
]


class TollwayError(Exception):
    """Base of every error a client of tollway can see."""

    status_code: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status_code: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.status = status_code or self.status_code
        self.details = details  # structured problems (an admin command's invalid fields); None for most

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class ClientError(TollwayError):
    """A 4xx: the request cannot be served as sent."""

    status_code = 400
    default_code = "invalid_request"


class InvalidRequest(ClientError):
    """Malformed JSON, wrong types, broken multipart, a submit's body the protocol refuses (400)."""

    default_code = "invalid_body"


class InvalidArguments(InvalidRequest):
    """An admin command's arguments are not valid (400; the CLI exits 2 for it)."""

    default_code = "invalid_args"


class UpstreamRejected(ClientError):
    """An upstream 4xx the client must see (context too long, content policy), cleaned of secrets.

    Keeps the upstream's own ``type``, ``code`` and extra fields for the wire formats that pass them on.
    """

    default_code = "upstream_rejected"

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
        super().__init__(message, code=code, param=param, status_code=status_code)
        self.upstream_type = error_type
        self.upstream_code = code
        self.extra = extra or {}


class AuthenticationFailed(ClientError):
    """Missing, malformed or unknown key (401). No usage record: there is no account to charge."""

    status_code = 401
    default_code = "invalid_api_key"


class InsufficientQuota(ClientError):
    """The balance or the key's limit cannot pay for the request (402, so SDKs do not retry)."""

    status_code = 402
    default_code = "insufficient_quota"


class PermissionDenied(ClientError):
    """The key or account may not do this (403): key_disabled, key_expired, account_disabled, …"""

    status_code = 403
    default_code = "permission_denied"


class NotFound(ClientError):
    """Unknown or unpriced model, or an endpoint this relay does not serve (404)."""

    status_code = 404
    default_code = "not_found"


class TaskNotFound(NotFound):
    """No such task of the caller's (404): another account's task looks exactly the same."""

    default_code = "task_not_found"


class UnknownCommand(NotFound):
    """No admin command of that name (404; the CLI exits 2 for it)."""

    default_code = "unknown_command"


class Conflict(ClientError):
    """The current state forbids the change (409): a key limit reached, an e-mail address taken, …"""

    status_code = 409
    default_code = "conflict"


class InsufficientBalance(Conflict):
    """An operator debit larger than what the account or key holds (409); nothing was moved."""

    default_code = "insufficient_balance"


class RedeemRefused(ClientError):
    """A redemption code this caller cannot redeem (400: invalid, disabled, expired); nothing was credited.

    ``reason`` is the store's word for why (``tollway.redeem.model.refused`` builds the right class).
    """

    default_code = "code_invalid"

    def __init__(self, message: str, *, reason: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.reason = reason


class RedeemConflict(RedeemRefused, Conflict):
    """The code was already used (409)."""

    default_code = "code_used"


class RedeemForbidden(RedeemRefused, PermissionDenied):
    """The caller may not redeem: the code's group, or a disabled account or key (403)."""

    default_code = "code_group"


class RequestTooLarge(ClientError):
    """The body is over tollway's request limit (413); the message states the limit."""

    status_code = 413
    default_code = "request_too_large"


class RateLimited(ClientError):
    """Every channel answered 429, or the key's request-rate limit was hit (429).

    ``retry_after`` is the Retry-After value to send (seconds, or an upstream's HTTP date), if known.
    """

    status_code = 429
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, code: str | None = None, retry_after: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class UpstreamFailed(TollwayError):
    """The upstream failed after retries (502)."""

    status_code = 502
    default_code = "upstream_error"


class NoAvailableChannel(UpstreamFailed):
    """No enabled channel serves this model for the key's group (503)."""

    status_code = 503
    default_code = "no_available_channel"


class Overloaded(UpstreamFailed):
    """Every channel tried answered 529 (Anthropic's "overloaded"): passed through as 529 so clients back off."""

    status_code = 529
    default_code = "overloaded"


class UpstreamTimeout(UpstreamFailed):
    """The upstream did not answer in time (504)."""

    status_code = 504
    default_code = "upstream_timeout"


class StoreUnavailable(TollwayError):
    """tollway's own storage failed after retries (503); nothing was charged."""

    status_code = 503
    default_code = "store_unavailable"


Row = TypeVar("Row")


def wire_row(table: Mapping[type[TollwayError], Row], error: TollwayError) -> Row:
    """``error``'s row in a wire format's mapping table: the most specific class the table lists (every
    table lists the root, so every error has one)."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    raise TypeError(f"{type(error).__name__} is not in the error tree")  # pragma: no cover - mro ends at root
