"""The Anthropic wire format of the error tree (``relay.routes.anthropic_errors``)."""

from __future__ import annotations

import pytest
from relay.routes.anthropic_errors import anthropic_error
from tollway import errors as e

from tests.support.error_tree import every_class, sample

#: (status, Anthropic type) of every class of the tree. A new class must be added here.
EXPECTED: dict[type[e.TollwayError], tuple[int, str]] = {
    e.TollwayError: (500, "api_error"),
    e.ClientError: (400, "invalid_request_error"),
    e.InvalidRequest: (400, "invalid_request_error"),
    e.InvalidArguments: (400, "invalid_request_error"),
    e.UpstreamRejected: (400, "invalid_request_error"),
    e.AuthenticationFailed: (401, "authentication_error"),
    e.InsufficientQuota: (402, "billing_error"),
    e.PermissionDenied: (403, "permission_error"),
    e.NotFound: (404, "not_found_error"),
    e.TaskNotFound: (404, "not_found_error"),
    e.UnknownCommand: (404, "not_found_error"),
    e.Conflict: (409, "conflict_error"),
    e.InsufficientBalance: (409, "conflict_error"),
    e.RedeemRefused: (400, "invalid_request_error"),
    e.RedeemConflict: (409, "conflict_error"),
    e.RedeemForbidden: (403, "permission_error"),
    e.RequestTooLarge: (413, "request_too_large"),
    e.RateLimited: (429, "rate_limit_error"),
    e.UpstreamFailed: (502, "api_error"),
    e.NoAvailableChannel: (503, "api_error"),
    e.Overloaded: (529, "overloaded_error"),
    e.UpstreamTimeout: (504, "timeout_error"),
    e.StoreUnavailable: (503, "api_error"),
}


def test_every_class_of_the_tree_has_a_pinned_answer() -> None:
    assert set(every_class()) == set(EXPECTED)


@pytest.mark.parametrize("cls", every_class(), ids=lambda c: c.__name__)
def test_each_class_maps_to_its_status_and_type(cls: type[e.TollwayError]) -> None:
    status, body, headers = anthropic_error(sample(cls), "req_1")
    assert (status, body["error"]["type"]) == EXPECTED[cls]
    assert body == {"type": "error", "error": {"type": EXPECTED[cls][1], "message": "x"}, "request_id": "req_1"}
    assert (headers.get("x-should-retry") == "false") == (status == 402)


def test_a_rate_limit_keeps_its_retry_after() -> None:
    _, _, headers = anthropic_error(e.RateLimited("x", retry_after="3"), None)
    assert headers == {"retry-after": "3"}


def test_an_anthropic_upstreams_own_type_passes_through() -> None:
    rejected = e.UpstreamRejected(
        "too long", status_code=400, error_type="invalid_request_error", code=None, param=None
    )
    assert anthropic_error(rejected, None)[1]["error"]["type"] == "invalid_request_error"
    openai_type = e.UpstreamRejected("bad", status_code=400, error_type="server_error", code=None, param=None)
    assert anthropic_error(openai_type, None)[1]["error"]["type"] == "invalid_request_error"
    missing = e.UpstreamRejected("gone", status_code=404, error_type="not_found", code=None, param=None)
    assert anthropic_error(missing, None)[1]["error"]["type"] == "not_found_error"  # named by its status
    unpaid = e.UpstreamRejected("pay", status_code=402, error_type="payment_required", code=None, param=None)
    status, body, headers = anthropic_error(unpaid, None)
    assert (status, body["error"]["type"], headers) == (402, "billing_error", {"x-should-retry": "false"})
