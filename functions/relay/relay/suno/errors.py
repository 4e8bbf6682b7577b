"""The Suno wire format of the error tree: new-api's ``{"code", "message", "data": null}`` with a real
HTTP status.

The status is the error's status class and the wire ``code`` the error's own, except where new-api says
otherwise (:data:`SUNO_ERRORS`, the most specific class listed wins): every malformed submit is
``invalid_request`` (the usage record keeps the precise reason: ``prompt_empty``, ``invalid_action``…),
and a balance that cannot pay is ``quota_not_enough`` with 403. Authentication failures and errors
raised out of a route are real HTTP errors in the OpenAI shape (``relay.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollway.errors import InsufficientQuota, InvalidRequest, TollwayError, wire_row
from tollway.suno.render import error as error_body

__all__ = ["SUNO_ERRORS", "SunoWire", "suno_error"]


@dataclass(frozen=True, slots=True)
class SunoWire:
    """How a class travels: the HTTP status and the wire code (None: the error's own)."""

    status: int | None = None
    code: str | None = None


#: The Suno answer of each class of the tree.
SUNO_ERRORS: dict[type[TollwayError], SunoWire] = {
    TollwayError: SunoWire(),  # the error's own status and code (model_not_found 404, no_available_channel 503, …)
    InvalidRequest: SunoWire(code="invalid_request"),
    InsufficientQuota: SunoWire(status=403, code="quota_not_enough"),
}


def _wire(error: TollwayError) -> SunoWire:
    return wire_row(SUNO_ERRORS, error)


def suno_error(error: TollwayError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``error`` for a Suno client."""
    wire = _wire(error)
    return wire.status or error.status, error_body(wire.code or error.code, error.message)
