"""The SSRF guard: every URL a customer gives tollway to fetch or call (notifyHook, image URLs).

Validate-then-fetch is broken by DNS rebinding and redirects, so the check sits *in the connection*:

1. before anything, the URL itself: https only (http only if configured), no credentials in it, an
   allowed port, no literal private address, no ``localhost``-style name;
2. at connect time, the one resolution that is used: every address the name resolves to must be a
   public (global) address — loopback, private, link-local (the 169.254.169.254 metadata service
   included), CGNAT, ULA, multicast and IPv4-mapped/embedded forms of those are refused — and the
   connection then goes to that checked address, with the original name kept for Host and SNI;
3. a redirect is a new URL: it goes through 1 and 2 again (and only GET follows redirects at all);
   the caller's headers are meant for the first URL's origin only: from the first hop to another
   origin (scheme, host or port) on, only the harmless ones in ``CROSS_ORIGIN_HEADERS`` are sent,
   so a channel key or a signature never follows a redirect to a CDN, a bucket or anyone else;
4. the answer is capped in size and the whole exchange in time.

Two exemptions, both configured by the operator, never by a customer: origins on ``ssrf_allow``
(tests' own receivers) and the origins the caller names as trusted (a channel's own origin is as
trusted as the channel). An exempt origin skips the address checks, not the size and time caps.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore2
import httpx2

if TYPE_CHECKING:
    import ssl

    from tollway.settings import Settings

__all__ = [
    "CROSS_ORIGIN_HEADERS",
    "Blocked",
    "GuardedHttp",
    "GuardedResponse",
    "Origin",
    "Resolver",
    "SsrfPolicy",
    "address_problem",
    "origin_of",
    "system_resolver",
]

#: ``(host, port) -> addresses``. Injected so tests control what a name resolves to.
Resolver = Callable[[str, int], list[str]]

#: The caller's headers a redirect to another origin still carries. Everything else — Authorization,
#: ``mj-api-secret``, a channel's own extra headers, which may hold any credential — is dropped: an
#: allow-list, because a deny-list cannot know every name an operator put a secret under.
CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent"})

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (what the operating system would connect to)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Blocked(Exception):
    """The guard refused a URL; no connection was made to it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLarge(Exception):
    """The answer exceeded the size cap (the rest was not read)."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def origin_of(url: str | httpx2.URL) -> Origin:
    """The origin of a URL, default ports made explicit (``https://a.example`` → port 443).

    Raises:
        Blocked: not an absolute http(s) URL.
    """
    try:
        parsed = url if isinstance(url, httpx2.URL) else httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        raise Blocked("not a valid URL") from exc
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise Blocked(f"scheme {scheme or '(none)'!r} is not allowed")
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise Blocked("the URL has no host")
    port = parsed.port or (443 if scheme == "https" else 80)
    return Origin(scheme, host, port)


def address_problem(ip: str) -> str | None:
    """Why an address may not be called (``None``: it is a public address)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 reaches the IPv4 host: judge the IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            inner = address_problem(str(embedded))
            if inner is not None:
                return inner
    if address.is_multicast or address.is_unspecified:
        return f"{address} is not a unicast address"
    if not address.is_global:
        # is_global is False for loopback, private (RFC 1918, ULA), link-local (169.254/16 with the cloud
        # metadata service, fe80::/10), CGNAT (100.64/10), documentation and reserved ranges.
        return f"{address} is not a public address"
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SsrfPolicy:
    """What may be called. Pure apart from ``resolver``."""

    allow_http: bool = False
    ports: frozenset[int] = frozenset({80, 443, 8080, 8443})
    allowed: frozenset[Origin] = frozenset()
    max_redirects: int = 3
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver | None = None) -> SsrfPolicy:
        return cls(
            allow_http=settings.ssrf_allow_http,
            ports=frozenset(settings.ssrf_ports),
            allowed=frozenset(origin_of(o) for o in settings.ssrf_allow),
            max_redirects=settings.ssrf_max_redirects,
            resolver=resolver or system_resolver,
        )

    def exempt_endpoints(self, trusted: Iterable[Origin]) -> frozenset[tuple[str, int]]:
        return frozenset((o.host, o.port) for o in (*self.allowed, *trusted))

    def check_url(self, url: str | httpx2.URL, trusted: Iterable[Origin] = ()) -> Origin:
        """The checks that need no DNS. Returns the URL's origin.

        Raises:
            Blocked: the URL may not be called.
        """
        origin = origin_of(url)
        parsed = url if isinstance(url, httpx2.URL) else httpx2.URL(url)
        if parsed.userinfo:
            raise Blocked("credentials in the URL are not allowed")
        trusted_set = set(trusted)
        if origin in self.allowed or origin in trusted_set:
            return origin
        if origin.scheme != "https" and not self.allow_http:
            raise Blocked("only https URLs are allowed")
        if origin.port not in self.ports:
            raise Blocked(f"port {origin.port} is not allowed")
        host = origin.host
        if _is_ip_literal(host):
            problem = address_problem(host)
            if problem is not None:
                raise Blocked(problem)
        elif host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
            raise Blocked(f"{host!r} is a local name")
        return origin

    def resolve(self, host: str, port: int, *, exempt: bool) -> list[str]:
        """The addresses to connect to, every one of them checked unless the endpoint is exempt.

        Raises:
            Blocked: the name does not resolve, or resolves to a refused address.
        """
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            raise Blocked(f"{host!r} does not resolve") from exc
        if not addresses:
            raise Blocked(f"{host!r} does not resolve")
        if not exempt:
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    # One bad address is enough: a name that mixes public and private answers is a
                    # rebinding attempt, whichever address the OS would have picked.
                    raise Blocked(f"{host!r} resolves to a refused address: {problem}")
        return addresses


class _GuardedBackend(httpcore2.NetworkBackend):
    """Resolves once, checks, and connects to the checked address (Host and SNI keep the name)."""

    def __init__(self, policy: SsrfPolicy, exempt: frozenset[tuple[str, int]]) -> None:
        self._policy = policy
        self._exempt = exempt
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        name = host.lower().rstrip(".")
        addresses = self._policy.resolve(name, port, exempt=(name, port) in self._exempt)
        return self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )


class _GuardedTransport(httpx2.HTTPTransport):
    def __init__(self, backend: _GuardedBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx2's transport has no network-backend argument; the pool it wraps has.
        self._pool = httpcore2.ConnectionPool(ssl_context=ssl_context, network_backend=backend, max_connections=4)


@dataclass(frozen=True, slots=True)
class GuardedResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


_SSL: list[ssl.SSLContext] = []


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds: once per process.
    if not _SSL:
        _SSL.append(httpx2.create_ssl_context(trust_env=False))
    return _SSL[0]


class GuardedHttp:
    """Blocking HTTP through the guard (call it from a worker thread in async code)."""

    def __init__(self, policy: SsrfPolicy, *, timeout_s: float = 10.0, max_bytes: int = 1_000_000) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        trusted: Iterable[Origin] = (),
        timeout_s: float | None = None,
        max_bytes: int | None = None,
    ) -> GuardedResponse:
        """One request; a GET follows up to ``max_redirects`` redirects, each one checked again, and
        ``headers`` go to the first URL's origin only (see ``CROSS_ORIGIN_HEADERS``).

        Raises:
            Blocked: a URL on the way was refused (nothing was sent to it).
            TooLarge: the answer exceeded the size cap.
            httpx2.HTTPError: the transfer failed or timed out.
        """
        trusted = tuple(trusted)
        limit = self.max_bytes if max_bytes is None else max_bytes
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        backend = _GuardedBackend(self.policy, self.policy.exempt_endpoints(trusted))
        transport = _GuardedTransport(backend, _ssl_context())
        current = httpx2.URL(url)
        sending = dict(headers or {})
        first: Origin | None = None
        with httpx2.Client(transport=transport, follow_redirects=False, trust_env=False) as client:
            for _ in range(self.policy.max_redirects + 1):
                origin = self.policy.check_url(current, trusted)
                first = first or origin
                if origin != first:
                    # Credentials are for the first origin only, and stay dropped for the rest of the chain
                    # (even a hop back to the first origin: its path was chosen by another host). Cookies
                    # the chain set go too: they ignore ports, so another port on the host would get them.
                    sending = {k: v for k, v in sending.items() if k.lower() in CROSS_ORIGIN_HEADERS}
                    client.cookies.clear()
                remaining = max(deadline - time.monotonic(), 0.001)
                request = client.build_request(
                    method, current, content=content, headers=sending, timeout=httpx2.Timeout(remaining)
                )
                response = client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if method == "GET" and response.is_redirect and location:
                        current = current.join(location)
                        continue
                    body = _read_capped(response, limit, deadline)
                    return GuardedResponse(response.status_code, dict(response.headers), body, str(current))
                finally:
                    response.close()
        raise Blocked("too many redirects")


def _read_capped(response: httpx2.Response, limit: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the answer declares {declared} bytes (limit {limit})")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the answer is over {limit} bytes")
        if time.monotonic() > deadline:
            raise httpx2.ReadTimeout("the transfer took too long")
        chunks.append(chunk)
    return b"".join(chunks)
