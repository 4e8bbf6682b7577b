"""The admin envelope of the error tree, and its HTTP status on the admin routes.

Every admin transport (direct invoke, the IAM route, the local stack's route, the CLI) answers a failed
command with the same envelope, built here only::

    {"ok": false, "command": "account.credit", "error": {"code", "message", "details"?}}

``code`` is the error's own (``invalid_args``, ``not_found``, ``insufficient_balance``, …); the HTTP
status is the admin table's, by class (:data:`ADMIN_STATUS`, the most specific class listed wins). The
CLI exits 2 for the usage errors (:data:`USAGE_ERRORS`) and 1 for every other failure.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidArguments,
    NotFound,
    TollwayError,
    UnknownCommand,
    wire_row,
)

__all__ = ["ADMIN_STATUS", "USAGE_ERRORS", "admin_failure", "admin_status"]

#: The HTTP status of a failed command on the admin routes, by class.
ADMIN_STATUS: dict[type[TollwayError], int] = {
    # Anything else could not be carried out as asked (a store failure, an unexpected error, a domain
    # refusal): 422, and nothing was half-applied.
    TollwayError: 422,
    InvalidArguments: 400,
    AuthenticationFailed: 401,  # a route that checks its caller itself (the local stack's admin route)
    NotFound: 404,  # no such account, key, group, batch, … (and UnknownCommand)
    Conflict: 409,  # the state forbids it: exists already, revoked, insufficient_balance, …
}

#: The codes of usage errors: the command line was wrong, not the command (CLI exit 2).
USAGE_ERRORS = frozenset({UnknownCommand.default_code, InvalidArguments.default_code})


def admin_status(error: TollwayError) -> int:
    """The HTTP status a failed command's envelope travels with."""
    return wire_row(ADMIN_STATUS, error)


def admin_failure(command: str, error: TollwayError) -> dict[str, Any]:
    """The envelope of a command that failed with ``error``."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return {"ok": False, "command": command, "error": body}
