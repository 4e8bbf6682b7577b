"""boto3 clients pointed at a running emulator, with dummy credentials.

The credentials are passed explicitly (never read from, or written to, the environment) so a client
made here can never reach a real AWS account by accident. `environment()` gives the same settings
as environment variables, for a child process such as the relay.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "DEFAULT_REGION",
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "client",
    "environment",
    "session_kwargs",
]

DEFAULT_REGION = "us-east-1"
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts any key; this one is public on purpose


def session_kwargs(region: str = DEFAULT_REGION) -> dict[str, str]:
    """Keyword arguments for `boto3.Session(...)` with the emulator's dummy credentials."""
    return {
        "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
        "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY,
        "region_name": region,
    }


def client(
    service: str,
    endpoint: str,
    *,
    region: str = DEFAULT_REGION,
    max_attempts: int | None = None,
    max_pool_connections: int = 32,
) -> Any:
    """A boto3 low-level client for `service` talking to the emulator at `endpoint`.

    `max_attempts=1` turns retries off (concurrency tests want to see every failure).
    """
    retries: Any = {"mode": "standard"}
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    config = Config(
        retries=retries,
        max_pool_connections=max_pool_connections,
        # The endpoint is an IP address: virtual-hosted bucket names cannot resolve.
        s3={"addressing_style": "path"},
    )
    # One session per region and process: a new session reads botocore's endpoint and service data again
    # (~90 ms of CPU a client, against ~3 ms from a session that has read them). Sessions are not
    # thread-safe, clients are: clients are made under the lock, then used freely.
    with _LOCK:
        made: Any = _session(region).client(service, endpoint_url=endpoint, config=config)
    return made


_LOCK = threading.Lock()


@functools.cache
def _session(region: str) -> Any:
    # Typed as Any: the stubs' overloads want a literal service name.
    return boto3.session.Session(
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        region_name=region,
    )


def environment(endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Environment variables that point boto3 in a child process at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
