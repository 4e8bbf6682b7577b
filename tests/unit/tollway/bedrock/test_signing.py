"""SigV4 headers and the credential cache (refresh windows, assumed roles, one resolution at a time)."""

from __future__ import annotations

import re
import threading
import time

from botocore.credentials import ReadOnlyCredentials
from tollway.bedrock.signing import CredentialCache, Identity, sign_request

_CREDS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def test_signed_headers_have_sigv4_shape_for_bedrock() -> None:
    url = "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-sonnet-4-6/invoke"
    headers = sign_request(_CREDS, "us-west-2", "POST", url, {"content-type": "application/json"}, b"{}")
    auth = headers["Authorization"]
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-west-2/bedrock/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}",
        auth,
    )
    assert "host" in auth and "x-amz-date" in auth
    assert headers["X-Amz-Security-Token"] == "session-token"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])


def test_the_signature_depends_on_the_body() -> None:
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse"
    one = sign_request(_CREDS, "us-east-1", "POST", url, {}, b'{"a":1}')
    two = sign_request(_CREDS, "us-east-1", "POST", url, {}, b'{"a":2}')
    if one["X-Amz-Date"] == two["X-Amz-Date"]:
        assert one["Authorization"] != two["Authorization"]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_static_credentials_are_cached_then_reread() -> None:
    calls = []
    clock = _Clock()

    def base() -> tuple[ReadOnlyCredentials, float | None]:
        calls.append(1)
        return _CREDS, None

    cache = CredentialCache(base=base, clock=clock, wall=lambda: 0.0)
    identity = Identity()
    assert cache.cached(identity) is None
    assert cache.get_blocking(identity) is _CREDS
    assert cache.cached(identity) is _CREDS and len(calls) == 1
    clock.now += 301
    assert cache.cached(identity) is None
    cache.get_blocking(identity)
    assert len(calls) == 2


def test_expiring_credentials_refresh_ten_minutes_early() -> None:
    clock = _Clock()
    wall = 50_000.0
    cache = CredentialCache(base=lambda: (_CREDS, wall + 3600), clock=clock, wall=lambda: wall)
    cache.get_blocking(Identity())
    clock.now += 3000 - 1
    assert cache.cached(Identity()) is _CREDS
    clock.now += 2
    assert cache.cached(Identity()) is None


def test_an_assumed_role_uses_the_function_credentials_and_is_cached_per_role() -> None:
    assumed: list[tuple[str | None, str]] = []
    role = ReadOnlyCredentials("ASIAROLE", "secret", "token")

    def assume(identity: Identity, base: ReadOnlyCredentials) -> tuple[ReadOnlyCredentials, float]:
        assumed.append((identity.role_arn, base.access_key))
        return role, time.time() + 3600

    cache = CredentialCache(base=lambda: (_CREDS, None), assume=assume)
    identity = Identity(role_arn="arn:aws:iam::123456789012:role/bedrock", region="eu-west-1")
    assert cache.get_blocking(identity) is role
    assert cache.get_blocking(identity) is role
    assert assumed == [("arn:aws:iam::123456789012:role/bedrock", "AKIDEXAMPLE")]
    assert cache.cached(Identity(region="eu-west-1")) is _CREDS


def test_concurrent_refreshes_resolve_once() -> None:
    calls = []
    gate = threading.Event()

    def base() -> tuple[ReadOnlyCredentials, float | None]:
        calls.append(1)
        gate.wait(2)
        return _CREDS, None

    cache = CredentialCache(base=base)
    threads = [threading.Thread(target=cache.get_blocking, args=(Identity(),)) for _ in range(5)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_the_default_chain_reads_the_environment(monkeypatch: object) -> None:
    # tests/conftest.py sets AWS_ACCESS_KEY_ID=testing for every test: botocore's chain finds it.
    creds = CredentialCache().get_blocking(Identity())
    assert creds.access_key == "testing"


def test_assume_role_goes_through_botocores_sts_client() -> None:
    from moto import mock_aws

    with mock_aws():  # botocore's own STS client, answered by moto in-process
        identity = Identity(role_arn="arn:aws:iam::123456789012:role/tollway-bedrock", region="eu-west-1")
        creds = CredentialCache().get_blocking(identity)
    assert creds.access_key.startswith("ASIA") and creds.token and creds.access_key != "testing"


def test_evict_forgets_one_identity() -> None:
    cache = CredentialCache(base=lambda: (_CREDS, None))
    cache.get_blocking(Identity())
    cache.evict(Identity())
    assert cache.cached(Identity()) is None
