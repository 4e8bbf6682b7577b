"""Why a code cannot be redeemed → the tree's class, code and message (``tollway.redeem.model.refused``)."""

from __future__ import annotations

import pytest
from tollway.errors import PermissionDenied, RedeemConflict, RedeemForbidden, RedeemRefused
from tollway.redeem.model import refused


@pytest.mark.parametrize(
    ("reason", "status", "code", "message"),
    [
        ("invalid", 400, "code_invalid", "This redemption code is not valid."),
        ("used", 409, "code_used", "This redemption code has already been used."),
        ("disabled", 400, "code_disabled", "This redemption code has been disabled."),
        ("expired", 400, "code_expired", "This redemption code has expired."),
        ("group", 403, "code_group", "This redemption code is not valid for your account's group."),
        ("account_disabled", 403, "account_disabled", "This account is disabled."),
        ("key_disabled", 403, "key_disabled", "This API key is disabled."),
        ("key_expired", 403, "key_expired", "This API key has expired."),
    ],
)
def test_each_reason_has_its_status_code_and_message(reason: str, status: int, code: str, message: str) -> None:
    error = refused(reason)
    assert isinstance(error, RedeemRefused) and error.reason == reason
    assert (error.status, error.code, error.message) == (status, code, message)
    assert isinstance(error, RedeemConflict) == (status == 409)
    assert isinstance(error, RedeemForbidden) == isinstance(error, PermissionDenied) == (status == 403)


def test_an_unknown_reason_reads_as_an_invalid_code() -> None:
    error = refused("martian")
    assert (type(error), error.reason, error.code, error.status) == (RedeemRefused, "invalid", "code_invalid", 400)
