"""A blocking HTTP client made on first use, for the task upstreams (Midjourney-Proxy, Suno-API) whose
calls run in worker threads and in the scheduled functions, not on the relay's event loop."""

from __future__ import annotations

import httpx2

__all__ = ["LazySyncClient"]


class LazySyncClient:
    """Owns one ``httpx2.Client``, built on the first call (nothing is opened at import or init)."""

    def __init__(self, *, timeout_s: float = 60.0, connect_timeout_s: float = 10.0) -> None:
        self._timeout = httpx2.Timeout(timeout_s, connect=connect_timeout_s)
        self._client: httpx2.Client | None = None

    def _http(self) -> httpx2.Client:
        if self._client is None:
            self._client = httpx2.Client(
                timeout=self._timeout,
                limits=httpx2.Limits(max_connections=64, max_keepalive_connections=16),
                follow_redirects=False,  # an upstream redirect is never followed blindly
                trust_env=False,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
