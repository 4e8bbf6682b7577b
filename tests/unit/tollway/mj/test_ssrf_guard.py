"""The SSRF guard (tollway/ssrf.py): with a resolver the test controls and a socket guard that records
every connection attempt, a refused URL is proven never connected to — before DNS, after DNS (every
answer checked, rebinding included), and on every redirect."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tollway.settings import Settings
from tollway.ssrf import Blocked, GuardedHttp, Origin, SsrfPolicy, TooLarge, address_problem, origin_of

from tests.unit.tollway.mj.ssrfkit import Hit, HookReceiver, Route, SocketGuard, redirect_to, resolver, start_receiver

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


# ---- credentials stay on their origin ----------------------------------------------------------------

CREDENTIALS = {
    "authorization": "Bearer sk-channel",
    "mj-api-secret": "sk-channel",
    "x-operator-token": "operator-extra-header",  # a channel's own header may hold any credential
    "cookie": "session=1",
}
HARMLESS = {"accept": "image/*", "user-agent": "tollway-test"}


@pytest.fixture
def servers() -> Iterator[Callable[[], tuple[HookReceiver, dict[str, Route]]]]:
    """Starts receivers whose routes the test sets after start (a redirect can then name a port)."""
    started: list[HookReceiver] = []

    def start() -> tuple[HookReceiver, dict[str, Route]]:
        routes: dict[str, Route] = {}
        found = start_receiver(routes)
        started.append(found)
        return found, routes

    yield start
    for found in started:
        found.server.shutdown()
        found.server.server_close()


def _guarded(socket_guard: SocketGuard, *receivers: HookReceiver, alias: str | None = None) -> GuardedHttp:
    """A guard that lets these receivers (and ``alias``, a second name of the loopback host) be called."""
    for r in receivers:
        socket_guard.allowed.add(("127.0.0.1", r.port))
    origins = {origin_of(r.origin) for r in receivers}
    if alias is not None:
        origins |= {Origin("http", alias, r.port) for r in receivers}

    def with_alias(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == alias else resolver(host, port)

    return GuardedHttp(SsrfPolicy(allowed=frozenset(origins), resolver=with_alias), timeout_s=5)


def _credentials_in(hit: Hit) -> set[str]:
    return set(CREDENTIALS) & hit.headers.keys()


def test_a_redirect_to_another_port_goes_without_the_credentials(
    socket_guard: SocketGuard, servers: Callable[[], tuple[HookReceiver, dict[str, Route]]]
) -> None:
    near, near_routes = servers()
    far, _ = servers()
    near_routes["/hop"] = redirect_to(f"{far.origin}/image.png")
    response = _guarded(socket_guard, near, far).request(
        "GET", f"{near.origin}/hop", headers={**CREDENTIALS, **HARMLESS}
    )
    assert response.status == 200 and response.body == b"png" and response.url == f"{far.origin}/image.png"
    assert CREDENTIALS.items() <= near.hits[0].headers.items()  # the first origin gets them all
    assert _credentials_in(far.hits[0]) == set()
    assert HARMLESS.items() <= far.hits[0].headers.items()


def test_a_redirect_to_another_host_name_goes_without_the_credentials(
    socket_guard: SocketGuard, servers: Callable[[], tuple[HookReceiver, dict[str, Route]]]
) -> None:
    near, routes = servers()
    routes["/hop"] = redirect_to(f"http://alias.test:{near.port}/image.png")  # same server, same port
    http = _guarded(socket_guard, near, alias="alias.test")
    assert http.request("GET", f"{near.origin}/hop", headers=CREDENTIALS).status == 200
    first, second = near.hits
    assert (first.path, second.path) == ("/hop", "/image.png")
    assert second.headers["host"] == f"alias.test:{near.port}"
    assert CREDENTIALS.items() <= first.headers.items() and _credentials_in(second) == set()


def test_credentials_stay_dropped_when_the_chain_comes_back(
    socket_guard: SocketGuard, servers: Callable[[], tuple[HookReceiver, dict[str, Route]]]
) -> None:
    near, near_routes = servers()
    far, far_routes = servers()
    near_routes["/hop"] = redirect_to(f"{far.origin}/back")
    far_routes["/back"] = redirect_to(f"{near.origin}/image.png")  # a path the other host chose
    assert _guarded(socket_guard, near, far).request("GET", f"{near.origin}/hop", headers=CREDENTIALS).body == b"png"
    assert [h.path for h in near.hits] == ["/hop", "/image.png"]
    assert [_credentials_in(h) for h in (near.hits[1], far.hits[0])] == [set(), set()]


def test_a_redirect_within_the_origin_keeps_the_credentials(
    socket_guard: SocketGuard, servers: Callable[[], tuple[HookReceiver, dict[str, Route]]]
) -> None:
    near, routes = servers()
    routes["/hop"] = redirect_to("/image.png")
    assert _guarded(socket_guard, near).request("GET", f"{near.origin}/hop", headers=CREDENTIALS).status == 200
    assert all(CREDENTIALS.items() <= h.headers.items() for h in near.hits) and len(near.hits) == 2


@pytest.mark.parametrize(
    ("first", "then", "same"),
    [
        ("https://img.example", "https://img.example:443/x", True),
        ("https://img.example", "http://img.example", False),  # scheme
        ("https://img.example", "https://cdn.img.example", False),  # host (a subdomain is another host)
        ("https://img.example", "https://img.example:8443", False),  # port
        ("https://IMG.example.", "https://img.example", True),
    ],
)
def test_what_counts_as_the_same_origin(first: str, then: str, same: bool) -> None:
    assert (origin_of(first) == origin_of(then)) is same
