"""One default TLS context for every httpx/httpx2 client a test process builds.

Building an httpx client builds its default ``ssl.SSLContext``, which reads certifi's CA bundle: ~27 ms of
CPU, while the client itself costs ~0.1 ms. The suite builds thousands of clients (every SDK client,
every ``tollway admin`` call through its transport, every ``mock.stats()``), and no test ever speaks TLS
(everything is plain HTTP on loopback), so that reading was a large share of the suite's CPU for nothing.

``install()`` makes the default case (``verify=True``, no client certificate) return one context per
process, built by the library itself the first time (per value of ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``,
which it reads); every other case is built as before. Clients otherwise behave exactly as they did: same
verification settings, same CA bundle.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["install"]


def _shared(create: Callable[..., ssl.SSLContext]) -> Callable[..., ssl.SSLContext]:
    built: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}

    @functools.wraps(create)
    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            return create(verify=verify, cert=cert, trust_env=trust_env)
        # The default context reads SSL_CERT_FILE / SSL_CERT_DIR when trust_env: they are part of the key.
        env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
        key = (trust_env, *env)
        if key not in built:
            built[key] = create(verify=True, cert=None, trust_env=trust_env)
        return built[key]

    create_ssl_context.__tollway_shared__ = True  # type: ignore[attr-defined]
    return create_ssl_context


def install() -> None:
    """Patch the name each library's transports call (idempotent)."""
    import httpx._transports.default as httpx_transports
    import httpx2._transports.default as httpx2_transports

    for module in (httpx_transports, httpx2_transports):
        current = module.create_ssl_context
        if not getattr(current, "__tollway_shared__", False):
            module.create_ssl_context = _shared(current)  # type: ignore[assignment]
