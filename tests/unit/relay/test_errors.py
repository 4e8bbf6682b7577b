"""The OpenAI wire format of the error tree (``relay.errors``): every class answers a pinned status and type."""

from __future__ import annotations

import pytest
from relay.errors import openai_body, openai_error
from tollway import errors as e

from tests.support.error_tree import every_class, sample

#: (status, OpenAI type) of every class of the tree. A new class must be added here (the walk below fails).
EXPECTED: dict[type[e.TollwayError], tuple[int, str]] = {
    e.TollwayError: (500, "api_error"),
    e.ClientError: (400, "invalid_request_error"),
    e.InvalidRequest: (400, "invalid_request_error"),
    e.InvalidArguments: (400, "invalid_request_error"),
    e.UpstreamRejected: (400, "invalid_request_error"),  # the upstream's own type (the sample's)
    e.AuthenticationFailed: (401, "invalid_request_error"),
    e.InsufficientQuota: (402, "insufficient_quota"),
    e.PermissionDenied: (403, "permission_error"),
    e.NotFound: (404, "invalid_request_error"),
    e.TaskNotFound: (404, "invalid_request_error"),
    e.UnknownCommand: (404, "invalid_request_error"),
    e.Conflict: (409, "invalid_request_error"),
    e.InsufficientBalance: (409, "invalid_request_error"),
    e.RedeemRefused: (400, "invalid_request_error"),
    e.RedeemConflict: (409, "invalid_request_error"),
    e.RedeemForbidden: (403, "permission_error"),
    e.RequestTooLarge: (413, "invalid_request_error"),
    e.RateLimited: (429, "rate_limit_error"),
    e.UpstreamFailed: (502, "upstream_error"),
    e.NoAvailableChannel: (503, "upstream_error"),
    e.Overloaded: (529, "overloaded_error"),
    e.UpstreamTimeout: (504, "upstream_error"),
    e.StoreUnavailable: (503, "api_error"),
}


def test_every_class_of_the_tree_has_a_pinned_answer() -> None:
    assert set(every_class()) == set(EXPECTED)


@pytest.mark.parametrize("cls", every_class(), ids=lambda c: c.__name__)
def test_each_class_maps_to_its_status_type_and_code(cls: type[e.TollwayError]) -> None:
    status, body, headers = openai_error(sample(cls))
    assert (status, body["error"]["type"]) == EXPECTED[cls]
    assert body == {"error": {"message": "x", "type": EXPECTED[cls][1], "param": None, "code": sample(cls).code}} or (
        cls is e.UpstreamRejected and body["error"]["code"] is None
    )
    assert headers == {}


def test_an_upstream_rejection_keeps_the_upstreams_type_code_and_extras() -> None:
    error = e.UpstreamRejected(
        "too long", status_code=400, error_type="server_error", code="context_length_exceeded", param="messages",
        extra={"line": 3},
    )  # fmt: skip
    assert openai_body(error) == {
        "error": {
            "message": "too long",
            "type": "server_error",
            "param": "messages",
            "code": "context_length_exceeded",
            "line": 3,
        }
    }


def test_a_rate_limit_carries_its_retry_after_and_an_instance_its_code_and_param() -> None:
    status, body, headers = openai_error(e.RateLimited("slow down", retry_after="3"))
    assert status == 429 and headers == {"retry-after": "3"}
    _, body, _ = openai_error(e.InvalidRequest("bad", code="invalid_json", param="model"))
    assert body["error"] == {
        "message": "bad",
        "type": "invalid_request_error",
        "param": "model",
        "code": "invalid_json",
    }
