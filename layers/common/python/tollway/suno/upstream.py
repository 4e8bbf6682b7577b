"""The client of Suno upstreams: a Suno-API deployment, or another new-api relay (same protocol).

Blocking (httpx2's sync client), like the Midjourney client: the relay calls it from worker threads,
the sweep from the admin function. Every call carries the channel key as ``Authorization: Bearer``.

- ``POST {base}/suno/submit/{MUSIC|LYRICS}`` → ``{"code": "success", "message": "", "data": "<id>"}``;
  anything else is a refusal (``{"code": <string>, "message": <string>, "data": null}``, any status);
- ``POST {base}/suno/fetch {"ids": [...]}`` → ``{"code": "success", "data": [task, ...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
import orjson

from tollway.config.model import Channel
from tollway.mj.upstream import UpstreamDown
from tollway.suno.model import SunoAction
from tollway.upstream.sync import LazySyncClient

__all__ = ["FETCH_TIMEOUT_S", "SubmitAnswer", "SunoUpstream", "UpstreamDown"]

#: new-api's poll timeout; a slow upstream must not hold the sweep for long.
FETCH_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class SubmitAnswer:
    """A submit's answer as the upstream sent it (``code`` is ``""`` when the body was no envelope)."""

    status: int
    code: str
    message: str
    data: Any

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.code == "success" and isinstance(self.data, str) and bool(self.data)

    @property
    def retryable(self) -> bool:
        """The channel, not the request, failed: another channel may serve a new submit."""
        return self.status in (401, 403, 429) or self.status >= 500


class SunoUpstream(LazySyncClient):
    @staticmethod
    def url(channel: Channel, path: str) -> str:
        """``path`` (``/submit/MUSIC``) on the channel: ``<base>/suno<path>`` (a base already ending in
        ``/suno`` is not doubled)."""
        base = channel.base_url.rstrip("/").removesuffix("/suno")
        return f"{base}/suno{path}"

    @staticmethod
    def headers(channel: Channel, secret: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if secret:
            headers["authorization"] = f"Bearer {secret}"
        headers.update({k.lower(): v for k, v in channel.headers.items()})
        return headers

    def _timeout_of(self, channel: Channel, cap_s: float | None = None) -> httpx2.Timeout:
        read = channel.read_timeout_s or self._timeout.read or 60.0
        if cap_s is not None:
            read = min(read, cap_s)
        return httpx2.Timeout(read, connect=channel.connect_timeout_s or self._timeout.connect)

    def _post(
        self, channel: Channel, secret: str | None, path: str, body: Any, cap_s: float | None = None
    ) -> tuple[int, Any]:
        try:
            response = self._http().post(
                self.url(channel, path),
                content=orjson.dumps(body),
                headers=self.headers(channel, secret),
                timeout=self._timeout_of(channel, cap_s),
            )
        except httpx2.HTTPError as exc:
            raise UpstreamDown(type(exc).__name__) from exc
        try:
            return response.status_code, orjson.loads(response.content) if response.content.strip() else None
        except orjson.JSONDecodeError:
            return response.status_code, None

    def submit(self, channel: Channel, secret: str | None, action: SunoAction, body: dict[str, Any]) -> SubmitAnswer:
        """POST a submit.

        Raises:
            UpstreamDown: no answer at all (connection, timeout).
        """
        status, data = self._post(channel, secret, f"/submit/{action.value}", body)
        if not isinstance(data, dict):
            return SubmitAnswer(status=status, code="", message=f"HTTP {status}", data=None)
        code = data.get("code")
        message = data.get("message")
        return SubmitAnswer(
            status=status,
            code=code if isinstance(code, str) else "",
            message=message if isinstance(message, str) else "",
            data=data.get("data"),
        )

    def fetch(self, channel: Channel, secret: str | None, upstream_ids: list[str]) -> list[dict[str, Any]]:
        """The tasks the upstream knows among ``upstream_ids``.

        Raises:
            UpstreamDown: no usable answer.
        """
        status, data = self._post(channel, secret, "/fetch", {"ids": upstream_ids}, cap_s=FETCH_TIMEOUT_S)
        if status != 200 or not isinstance(data, dict) or data.get("code") != "success":
            raise UpstreamDown(f"HTTP {status}", status=status)
        items = data.get("data")
        if not isinstance(items, list):
            raise UpstreamDown("the fetch answer has no task list", status=status)
        return [item for item in items if isinstance(item, dict)]
