"""Where the wire client's two transports connect: an endpoint URL taken apart, and its TLS context.

Shared by :mod:`tollway.dynamo_wire` (blocking, ``http.client``) and :mod:`tollway.dynamo_loop`
(asyncio), so both sign the same ``Host`` and verify against the same CA bundle.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ConnectTimeoutError, EndpointConnectionError, SSLError

__all__ = ["Answer", "EndpointParts", "connect_failure", "endpoint_parts", "verified_context"]

#: What a connection's ``post`` reads of one answer: status, headers, body, whether it may be reused.
Answer = tuple[int, list[tuple[str, str]], bytes, bool]


@dataclass(frozen=True, slots=True)
class EndpointParts:
    """An endpoint URL taken apart once, for either transport."""

    host: str  # the Host header (and what is signed)
    hostname: str
    port: int | None
    https: bool
    path: str


def endpoint_parts(endpoint_url: str) -> EndpointParts:
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
    return EndpointParts(
        host=_host_header(endpoint_url),
        hostname=parts.hostname,
        port=parts.port,
        https=parts.scheme == "https",
        path=parts.path or "/",
    )


def verified_context() -> ssl.SSLContext:
    """TLS verified against the CA bundle botocore would use (``AWS_CA_BUNDLE``, else certifi's or its own)."""
    from botocore.httpsession import get_cert_path

    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True))


def _host_header(url: str) -> str:
    """What botocore signs as ``host``: lowercase, the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        return f"{host}:{parts.port}"
    return host


def connect_failure(endpoint_url: str, exc: OSError) -> BotoCoreError:
    """The botocore error a failed connect is reported as, as botocore's own HTTP session maps it
    (``TimeoutError`` and ``ssl.SSLError`` are ``OSError``s: checked first)."""
    if isinstance(exc, TimeoutError):
        return ConnectTimeoutError(endpoint_url=endpoint_url, error=exc)
    if isinstance(exc, ssl.SSLError):
        return SSLError(endpoint_url=endpoint_url, error=exc)
    return EndpointConnectionError(endpoint_url=endpoint_url, error=exc)
