"""The Midjourney envelope of the error tree (``relay.mj.errors``): every class answers a pinned envelope code."""

from __future__ import annotations

import pytest
from relay.mj.errors import mj_error
from tollway import errors as e

from tests.support.error_tree import every_class, sample

#: The envelope code of every class of the tree. A new class must be added here (the walk below fails).
EXPECTED: dict[type[e.TollwayError], int] = {
    e.TollwayError: 9,
    e.ClientError: 4,
    e.InvalidRequest: 4,
    e.InvalidArguments: 4,
    e.UpstreamRejected: 4,
    e.AuthenticationFailed: 4,  # raised before a submit, so answered as a real 401 (OpenAI shape) in practice
    e.InsufficientQuota: 4,  # a business answer: HTTP 200, code 4
    e.PermissionDenied: 4,  # mode_not_allowed, model_not_allowed
    e.NotFound: 4,  # model_not_found: "validation", not "task not found"
    e.TaskNotFound: 3,
    e.UnknownCommand: 4,
    e.Conflict: 4,
    e.InsufficientBalance: 4,
    e.RedeemRefused: 4,
    e.RedeemConflict: 4,
    e.RedeemForbidden: 4,
    e.RequestTooLarge: 4,
    e.RateLimited: 4,
    e.UpstreamFailed: 9,
    e.NoAvailableChannel: 3,
    e.Overloaded: 9,
    e.UpstreamTimeout: 9,
    e.StoreUnavailable: 9,
}


def test_every_class_of_the_tree_has_a_pinned_code() -> None:
    assert set(every_class()) == set(EXPECTED)


@pytest.mark.parametrize("cls", every_class(), ids=lambda c: c.__name__)
def test_each_class_maps_to_its_envelope_code(cls: type[e.TollwayError]) -> None:
    error = sample(cls)
    assert mj_error(error, business=True) == (
        200,
        {"code": EXPECTED[cls], "description": "x", "result": None, "properties": {}},
    )
    assert mj_error(error, business=False)[0] == error.status


def test_submit_refusals_and_reads_keep_their_wire_answers() -> None:
    # A parent task another account owns (submit), an unknown task id (fetch), a bad id list (list).
    assert mj_error(e.TaskNotFound("task 1 not found"), business=True)[1]["code"] == 3
    assert mj_error(e.TaskNotFound("task 1 not found"), business=False) == (
        404,
        {"code": 3, "description": "task 1 not found", "result": None, "properties": {}},
    )
    assert mj_error(e.InvalidRequest("at most 200 ids per request"), business=False)[0] == 400
    no_channel = e.NoAvailableChannel("the channel of task 1 is unavailable")
    assert mj_error(no_channel, business=True) == (200, {**mj_error(no_channel, business=True)[1], "code": 3})
    assert mj_error(e.UpstreamFailed("The Midjourney upstream is unavailable."), business=True)[1]["code"] == 9
    quota = e.InsufficientQuota("Insufficient balance")
    assert mj_error(quota, business=True) == (
        200,
        {"code": 4, "description": "Insufficient balance", "result": None, "properties": {}},
    )
