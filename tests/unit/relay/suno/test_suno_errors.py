"""The Suno wire format of the error tree (``relay.suno.errors``): new-api's ``{"code", "message", "data"}``."""

from __future__ import annotations

import pytest
from relay.suno.errors import suno_error
from tollway import errors as e

from tests.support.error_tree import every_class, sample

#: (HTTP status, wire code) of every class of the tree. A new class must be added here.
EXPECTED: dict[type[e.TollwayError], tuple[int, str]] = {
    e.TollwayError: (500, "internal_error"),
    e.ClientError: (400, "invalid_request"),
    e.InvalidRequest: (400, "invalid_request"),
    e.InvalidArguments: (400, "invalid_request"),
    e.UpstreamRejected: (400, "upstream_rejected"),
    e.AuthenticationFailed: (401, "invalid_api_key"),
    e.InsufficientQuota: (403, "quota_not_enough"),  # new-api's status and code
    e.PermissionDenied: (403, "permission_denied"),
    e.NotFound: (404, "not_found"),
    e.TaskNotFound: (404, "task_not_found"),
    e.UnknownCommand: (404, "unknown_command"),
    e.Conflict: (409, "conflict"),
    e.InsufficientBalance: (409, "insufficient_balance"),
    e.RedeemRefused: (400, "code_invalid"),
    e.RedeemConflict: (409, "code_used"),
    e.RedeemForbidden: (403, "code_group"),
    e.RequestTooLarge: (413, "request_too_large"),
    e.RateLimited: (429, "rate_limit_exceeded"),
    e.UpstreamFailed: (502, "upstream_error"),
    e.NoAvailableChannel: (503, "no_available_channel"),
    e.Overloaded: (529, "overloaded"),
    e.UpstreamTimeout: (504, "upstream_timeout"),
    e.StoreUnavailable: (503, "store_unavailable"),
}


def test_every_class_of_the_tree_has_a_pinned_answer() -> None:
    assert set(every_class()) == set(EXPECTED)


@pytest.mark.parametrize("cls", every_class(), ids=lambda c: c.__name__)
def test_each_class_maps_to_its_status_and_code(cls: type[e.TollwayError]) -> None:
    status, code = EXPECTED[cls]
    assert suno_error(sample(cls)) == (status, {"code": code, "message": "x", "data": None})


def test_the_submit_refusals_keep_new_apis_answers() -> None:
    # The reason is the message and the usage record's code; the wire code is invalid_request.
    assert suno_error(e.InvalidRequest("prompt_empty", code="prompt_empty")) == (
        400,
        {"code": "invalid_request", "message": "prompt_empty", "data": None},
    )
    assert suno_error(e.ClientError("task_origin_not_exist", code="task_not_exist"))[0] == 400
    assert suno_error(e.NotFound("no price", code="model_not_found")) == (
        404,
        {"code": "model_not_found", "message": "no price", "data": None},
    )
    assert suno_error(e.InsufficientQuota("Insufficient balance")) == (
        403,
        {"code": "quota_not_enough", "message": "Insufficient balance", "data": None},
    )
    assert suno_error(e.UpstreamFailed("down", code="do_request_failed"))[0] == 502
    rejected = e.UpstreamRejected("bad", status_code=422, error_type="x", code="fail_to_fetch_task", param=None)
    assert suno_error(rejected) == (422, {"code": "fail_to_fetch_task", "message": "bad", "data": None})
