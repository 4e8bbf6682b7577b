"""SigV4 for Bedrock calls: botocore's signer and credential chain, never blocking the event loop.

Why botocore and not boto3's ``bedrock-runtime`` client: the client's calls block, and its event-stream
reader is synchronous, so every streaming call would hold a thread for its whole life. The relay
already has a pooled async HTTP client; it only needs the ``Authorization`` header, which
``SigV4Auth`` computes in microseconds from frozen credentials. Resolving credentials can block
(the container credential endpoint, STS ``AssumeRole``), so that happens in a worker thread, once per
expiry window, behind a per-identity lock; the request path reads the cached frozen copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

__all__ = ["CredentialCache", "Identity", "sign_request"]

# Refresh this long before credentials expire (botocore's own advisory window is 15 minutes).
_REFRESH_MARGIN_S = 600.0
# Credentials without an expiry (environment variables, a profile) are re-read this often.
_STATIC_TTL_S = 300.0
_SESSION_NAME = "tollway-relay"


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose credentials sign: the function's own (``role_arn`` None) or an assumed role."""

    role_arn: str | None = None
    external_id: str | None = None
    region: str = "us-east-1"  # the STS region for an assumed role


@dataclass(frozen=True, slots=True)
class _Cached:
    credentials: ReadOnlyCredentials
    refresh_at: float  # time.monotonic() after which a new copy is fetched


def sign_request(
    credentials: ReadOnlyCredentials, region: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> dict[str, str]:
    """``headers`` plus ``X-Amz-Date``, ``X-Amz-Security-Token`` (when a session token exists) and the
    SigV4 ``Authorization`` for the ``bedrock`` service in ``region``."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, "bedrock", region).add_auth(request)
    return {k: v for k, v in request.headers.items()}


class CredentialCache:
    """Frozen credentials per identity, refreshed before expiry by a blocking resolver run off the loop.

    ``get_blocking`` is what a worker thread runs; ``cached`` is the loop's lock-free read.
    """

    def __init__(
        self,
        base: Callable[[], tuple[ReadOnlyCredentials, float | None]] | None = None,
        assume: Callable[[Identity, ReadOnlyCredentials], tuple[ReadOnlyCredentials, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._base = base or _function_credentials
        self._assume = assume or _assume_role
        self._clock = clock
        self._wall = wall
        self._entries: dict[Identity, _Cached] = {}
        self._locks: dict[Identity, threading.Lock] = {}
        self._guard = threading.Lock()

    def cached(self, identity: Identity) -> ReadOnlyCredentials | None:
        entry = self._entries.get(identity)
        if entry is None or self._clock() >= entry.refresh_at:
            return None
        return entry.credentials

    def evict(self, identity: Identity) -> None:
        """Forget ``identity``'s copy (Bedrock called it expired): the next call resolves afresh."""
        self._entries.pop(identity, None)

    def get_blocking(self, identity: Identity) -> ReadOnlyCredentials:
        """Fresh credentials for ``identity`` (blocks: call it from a worker thread).

        Raises:
            botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: no credentials, or STS refused.
        """
        with self._guard:
            lock = self._locks.setdefault(identity, threading.Lock())
        with lock:  # one resolution per identity at a time; the others find its result
            hit = self.cached(identity)
            if hit is not None:
                return hit
            if identity.role_arn is None:
                credentials, expires = self._base()
            else:
                base = self.get_blocking(Identity(region=identity.region))
                credentials, expiry = self._assume(identity, base)
                expires = expiry
            self._entries[identity] = _Cached(credentials, self._refresh_at(expires))
            return credentials

    def _refresh_at(self, expires_epoch: float | None) -> float:
        now = self._clock()
        if expires_epoch is None:
            return now + _STATIC_TTL_S
        remaining = expires_epoch - self._wall()
        return now + max(remaining - _REFRESH_MARGIN_S, min(remaining / 2, 60.0), 0.0)


def _function_credentials() -> tuple[ReadOnlyCredentials, float | None]:
    """The function's own credentials from botocore's default chain (Lambda: environment variables)."""
    import botocore.session  # deferred: building a session reads files, not at import time

    credentials: Any = botocore.session.get_session().get_credentials()
    if credentials is None:
        from botocore.exceptions import NoCredentialsError

        raise NoCredentialsError()
    frozen: ReadOnlyCredentials = credentials.get_frozen_credentials()
    expiry = getattr(credentials, "_expiry_time", None)
    return frozen, expiry.timestamp() if expiry is not None else None


def _assume_role(identity: Identity, base: ReadOnlyCredentials) -> tuple[ReadOnlyCredentials, float]:
    """STS ``AssumeRole`` with the function's credentials (cross-account Bedrock)."""
    import botocore.session

    sts: Any = botocore.session.get_session().create_client(
        "sts",
        region_name=identity.region,
        aws_access_key_id=base.access_key,
        aws_secret_access_key=base.secret_key,
        aws_session_token=base.token,
    )
    kwargs: dict[str, Any] = {"RoleArn": identity.role_arn, "RoleSessionName": _SESSION_NAME}
    if identity.external_id:
        kwargs["ExternalId"] = identity.external_id
    answer = sts.assume_role(**kwargs)["Credentials"]
    frozen = ReadOnlyCredentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])
    return frozen, answer["Expiration"].timestamp()
