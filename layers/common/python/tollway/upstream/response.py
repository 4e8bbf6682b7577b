"""An open upstream response, as every channel's transport returns it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2

__all__ = ["UpstreamResponse"]


class UpstreamResponse:
    """An open upstream response (its body not yet read)."""

    def __init__(self, response: httpx2.Response) -> None:
        self._r = response

    @property
    def status(self) -> int:
        return self._r.status_code

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self._r.headers.items()}

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._r.aiter_raw()

    async def read_limited(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (the rest is dropped with the connection)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in self._r.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        return b"".join(chunks)[:limit]

    async def aclose(self) -> None:
        await self._r.aclose()
