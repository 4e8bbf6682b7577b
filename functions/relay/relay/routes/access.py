"""Who is calling a read-only customer route (usage views, pricing, stored responses).

These routes write nothing and reserve nothing, so no conditional write checks the key for them: the
key and its account are read fresh from the store (not from the relay's 60-second key cache) and their
status, expiry and IP allow-list are checked here — a key disabled a second ago reads nothing.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from tollway.accounts.model import AccountStatus, KeyStatus
from tollway.auth import KeyContext
from tollway.errors import AuthenticationFailed, PermissionDenied
from tollway.keys import hash_key, is_well_formed

from relay.pipeline import Pipeline, bearer_secret

__all__ = ["customer_context"]


async def customer_context(pipeline: Pipeline, request: Request) -> KeyContext:
    """The caller's key and account, fresh from the store.

    Raises:
        AuthenticationFailed: no key, an unknown or revoked one.
        PermissionDenied: a disabled or expired key, a disabled account, an address outside the allow-list.
    """
    secret = bearer_secret(request)
    if not secret:
        raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer sk-…'.")
    if not is_well_formed(secret):
        raise AuthenticationFailed("Incorrect API key provided.")
    svc = await pipeline.services()
    key = await pipeline.blocking(svc.accounts.get_key, hash_key(secret))
    if key is None or key.status is KeyStatus.REVOKED:
        raise AuthenticationFailed("Incorrect API key provided.")
    account = await pipeline.blocking(svc.accounts.get_account, key.account_id)
    if account is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    if key.status is not KeyStatus.ACTIVE:
        raise PermissionDenied("This API key is disabled.", code="key_disabled")
    if key.expired(time.time()):
        raise PermissionDenied("This API key has expired.", code="key_expired")
    if account.status is not AccountStatus.ACTIVE:
        raise PermissionDenied("This account is disabled.", code="account_disabled")
    if not key.allows_ip(request.client.host if request.client else None):
        raise PermissionDenied("This API key may not be used from this IP address.", code="ip_not_allowed")
    return KeyContext(key=key, account=account)
