"""The SSRF guard (tollway/ssrf.py): with a resolver the test controls and a socket guard that records
every connection attempt, a refused URL is proven never connected to — before DNS, after DNS (every
answer checked, rebinding included), and on every redirect."""

from __future__ import annotations

import pytest
from tollway.settings import Settings
from tollway.ssrf import Blocked, GuardedHttp, Origin, SsrfPolicy, TooLarge, address_problem, origin_of

from tests.unit.tollway.mj.ssrfkit import HookReceiver, SocketGuard, resolver

REFUSED = [
    # literal addresses
    "https://127.0.0.1/hook",
    "https://127.8.9.10/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.0.1/hook",
    "https://100.64.1.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[2002:a9fe:a9fe::1]/hook",  # 6to4 around 169.254.169.254
    # names
    "https://localhost/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://intranet/hook",
    "https://printer.local/hook",
    "https://private.test/hook",
    "https://meta.test/latest/meta-data/",
    "https://loop.test:8443/hook",
    "https://v6loop.test/hook",
    "https://ula.test/hook",
    "https://cgnat.test/hook",
    "https://rebind.test/hook",
    "https://nowhere.test/hook",
    # scheme, port, credentials, shape
    "http://public.test/hook",
    "https://public.test:22/hook",
    "https://user:secret@public.test/hook",
    "ftp://public.test/hook",
    "file:///etc/passwd",
    "not a url",
]


@pytest.mark.parametrize("url", REFUSED)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_refused_url_is_never_connected_to(url: str, method: str, socket_guard: SocketGuard) -> None:
    http = GuardedHttp(SsrfPolicy(resolver=resolver), timeout_s=5)
    with pytest.raises(Blocked):
        http.request(method, url, content=b"{}" if method == "POST" else None)
    assert socket_guard.attempts == []


def test_a_public_name_is_connected_at_the_address_that_was_checked(socket_guard: SocketGuard) -> None:
    import httpx2

    http = GuardedHttp(SsrfPolicy(resolver=resolver), timeout_s=5)
    with pytest.raises(httpx2.ConnectError):
        http.request("POST", "https://public.test/hook", content=b"{}")
    # One resolution, one connection, to the checked address (no second lookup to be rebound).
    assert socket_guard.attempts == [("93.184.216.34", 443)]


def test_an_allowed_receiver_is_called(socket_guard: SocketGuard, receiver: HookReceiver) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    policy = SsrfPolicy(allowed=frozenset({origin_of(receiver.origin)}), resolver=resolver)
    response = GuardedHttp(policy).request("POST", f"{receiver.origin}/hook", content=b'{"a":1}')
    assert response.status == 200
    assert [(h.method, h.path, h.body) for h in receiver.hits] == [("POST", "/hook", b'{"a":1}')]
    # Allowing one origin does not allow the host's other ports.
    with pytest.raises(Blocked):
        GuardedHttp(policy).request("POST", f"http://127.0.0.1:{receiver.port + 1}/hook")
    assert socket_guard.blocked_attempts() == []


@pytest.mark.parametrize("path", ["/to-metadata", "/to-private-name"])
def test_every_redirect_is_checked_again(socket_guard: SocketGuard, receiver: HookReceiver, path: str) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    policy = SsrfPolicy(allowed=frozenset({origin_of(receiver.origin)}), resolver=resolver)
    with pytest.raises(Blocked):
        GuardedHttp(policy).request("GET", receiver.origin + path)
    assert socket_guard.attempts == [("127.0.0.1", receiver.port)]  # the redirect's target: never


def test_a_post_does_not_follow_redirects_and_a_get_follows_a_few(
    socket_guard: SocketGuard, receiver: HookReceiver
) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    policy = SsrfPolicy(allowed=frozenset({origin_of(receiver.origin)}), resolver=resolver)
    assert GuardedHttp(policy).request("POST", receiver.origin + "/to-metadata").status == 302
    assert GuardedHttp(policy).request("GET", receiver.origin + "/to-self").body == b"png"
    assert socket_guard.blocked_attempts() == []


def test_answers_are_size_capped(socket_guard: SocketGuard, receiver: HookReceiver) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    policy = SsrfPolicy(allowed=frozenset({origin_of(receiver.origin)}), resolver=resolver)
    with pytest.raises(TooLarge):
        GuardedHttp(policy, max_bytes=1000).request("GET", receiver.origin + "/big")
    assert len(GuardedHttp(policy, max_bytes=60_000).request("GET", receiver.origin + "/big").body) == 50_000


def test_a_channels_own_origin_is_trusted_as_the_channel_is(socket_guard: SocketGuard, receiver: HookReceiver) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    http = GuardedHttp(SsrfPolicy(resolver=resolver))
    with pytest.raises(Blocked):
        http.request("GET", receiver.origin + "/image.png")
    trusted = [Origin("http", "127.0.0.1", receiver.port)]
    assert http.request("GET", receiver.origin + "/image.png", trusted=trusted).status == 200


def test_the_policy_from_settings() -> None:
    policy = SsrfPolicy.from_settings(Settings(ssrf_allow=["http://127.0.0.1:9000"], ssrf_allow_http=True))
    assert policy.allowed == frozenset({Origin("http", "127.0.0.1", 9000)})
    assert policy.check_url("http://hooks.example.com/x") == Origin("http", "hooks.example.com", 80)
    assert Settings().ssrf_allow == [] and not Settings().ssrf_allow_http  # the default guard allows nothing local


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("::ffff:8.8.8.8", False),
        ("::ffff:127.0.0.1", True),
        ("fd00::1", True),
        ("100.100.100.200", True),  # Alibaba's metadata service sits in CGNAT space
        ("not-an-ip", True),
    ],
)
def test_address_rules(address: str, refused: bool) -> None:
    assert (address_problem(address) is not None) is refused
