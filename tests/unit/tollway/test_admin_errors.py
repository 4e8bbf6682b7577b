"""The admin envelope of the error tree (``tollway.admin.errors``): every class travels with a pinned status."""

from __future__ import annotations

import pytest
from tollway import errors as e
from tollway.admin.errors import USAGE_ERRORS, admin_failure, admin_status

from tests.support.error_tree import every_class, sample

#: The admin route's HTTP status of every class of the tree. A new class must be added here.
EXPECTED: dict[type[e.TollwayError], int] = {
    e.TollwayError: 422,
    e.ClientError: 422,
    e.InvalidRequest: 422,  # a domain refusal inside a command, not the command line's arguments
    e.InvalidArguments: 400,
    e.UpstreamRejected: 422,
    e.AuthenticationFailed: 401,
    e.InsufficientQuota: 422,
    e.PermissionDenied: 422,
    e.NotFound: 404,
    e.TaskNotFound: 404,
    e.UnknownCommand: 404,
    e.Conflict: 409,
    e.InsufficientBalance: 409,
    e.RedeemRefused: 422,
    e.RedeemConflict: 409,
    e.RedeemForbidden: 422,
    e.RequestTooLarge: 422,
    e.RateLimited: 422,
    e.UpstreamFailed: 422,
    e.NoAvailableChannel: 422,
    e.Overloaded: 422,
    e.UpstreamTimeout: 422,
    e.StoreUnavailable: 422,
}


def test_every_class_of_the_tree_has_a_pinned_status() -> None:
    assert set(every_class()) == set(EXPECTED)


@pytest.mark.parametrize("cls", every_class(), ids=lambda c: c.__name__)
def test_each_class_maps_to_its_status_and_own_code(cls: type[e.TollwayError]) -> None:
    error = sample(cls)
    assert admin_status(error) == EXPECTED[cls]
    assert admin_failure("account.credit", error) == {
        "ok": False,
        "command": "account.credit",
        "error": {"code": error.code, "message": "x"},
    }


def test_details_travel_and_usage_errors_are_the_command_lines() -> None:
    invalid = e.InvalidArguments("Invalid price: x", details=[{"field": "input", "problem": "negative"}])
    assert admin_failure("price.set", invalid)["error"]["details"] == [{"field": "input", "problem": "negative"}]
    assert USAGE_ERRORS == {"unknown_command", "invalid_args"}
    assert admin_status(e.InsufficientBalance("A debit of $5 would take the balance below zero")) == 409
    assert admin_status(e.TollwayError("These services have no Midjourney stores.", code="unavailable")) == 422
