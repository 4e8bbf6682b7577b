"""The Midjourney envelope of the error tree: ``{"code", "description", "result", "properties"}``.

midjourney-proxy's clients read the envelope's ``code`` (1 = submitted; 3 = not found or no account
can take it; 4 = validation error; 9 = system error), not the HTTP status, so business refusals of a
submit and of image-seed travel in an HTTP 200 envelope; the task reads (fetch, list) answer with the
error's status class. Authentication failures and errors raised out of a route are real HTTP errors
in the OpenAI shape (``relay.errors``). The code by class is :data:`MJ_CODES` (the most specific class
listed wins); the description is the error's message.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import ClientError, NoAvailableChannel, TaskNotFound, TollwayError, wire_row
from tollway.mj.render import envelope

__all__ = ["MJ_CODES", "mj_code", "mj_envelope", "mj_error"]

#: The MJ envelope ``code`` of each class of the tree.
MJ_CODES: dict[type[TollwayError], int] = {
    TollwayError: 9,  # a system error: the upstream (or tollway) failed
    ClientError: 4,  # the submit cannot be served as sent: body, action, mode, price, key, balance
    TaskNotFound: 3,  # the task (or the parent task) does not exist, or is another account's
    NoAvailableChannel: 3,  # no channel (no Discord account) can take it: the proxies' "not found" too
}


def mj_code(error: TollwayError) -> int:
    return wire_row(MJ_CODES, error)


def mj_envelope(error: TollwayError) -> dict[str, Any]:
    """The envelope of ``error`` (no result, no properties)."""
    return envelope(mj_code(error), error.message)


def mj_error(error: TollwayError, *, business: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, envelope): HTTP 200 for a ``business`` answer (submit, image-seed), else the error's
    status class (the task reads)."""
    return (200 if business else error.status), mj_envelope(error)
