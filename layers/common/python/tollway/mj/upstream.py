"""The client of MJ-Proxy upstreams (midjourney-proxy, its Plus/trueai form, or another relay).

Blocking (httpx2's sync client): the callback and admin functions are synchronous, and the relay
calls it from worker threads. Every call carries the channel key as ``mj-api-secret`` (what the
proxies read) and as ``Authorization: Bearer`` (what a new-api relay upstream reads). Upstream
answers are parsed defensively: an unknown id may come back as an empty 200/204 body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson

from tollway.config.model import Channel
from tollway.mj.model import Mode
from tollway.upstream.sync import LazySyncClient

__all__ = ["MjUpstream", "SubmitAnswer", "UpstreamDown"]

_ACCEPTED = frozenset({1, 21, 22})


class UpstreamDown(Exception):
    """The upstream could not be reached, or answered with an error status or garbage."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class SubmitAnswer:
    """A submit's result envelope as the upstream sent it."""

    code: int
    description: str
    result: Any
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.code in _ACCEPTED and self.result not in (None, "", [])


class MjUpstream(LazySyncClient):
    @staticmethod
    def url(channel: Channel, path: str, mode: Mode | None = None) -> str:
        """``path`` (``/submit/imagine``) on the channel: ``<base>[/mj-<mode>]/mj<path>``.

        A base URL that already ends in ``/mj`` is not doubled; ``mode_path`` (a channel setting) puts
        the speed in the path for upstreams that select accounts by it (the Plus proxy does).
        """
        base = channel.base_url.rstrip("/")
        if base.endswith("/mj"):
            base = base[: -len("/mj")]
        prefix = f"/mj-{mode.value}" if mode is not None and channel.settings.get("mode_path") else ""
        return f"{base}{prefix}/mj{path}"

    @staticmethod
    def headers(channel: Channel, secret: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if secret:
            headers["mj-api-secret"] = secret
            headers["authorization"] = f"Bearer {secret}"
        headers.update({k.lower(): v for k, v in channel.headers.items()})
        return headers

    def _timeout_of(self, channel: Channel) -> httpx2.Timeout | None:
        if channel.read_timeout_s is None and channel.connect_timeout_s is None:
            return None
        return httpx2.Timeout(
            channel.read_timeout_s or self._timeout.read, connect=channel.connect_timeout_s or self._timeout.connect
        )

    def _call(self, method: str, channel: Channel, url: str, secret: str | None, body: Any = None) -> tuple[int, Any]:
        content = None if body is None else orjson.dumps(body)
        kwargs: dict[str, Any] = {"content": content, "headers": self.headers(channel, secret)}
        timeout = self._timeout_of(channel)
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self._http().request(method, url, **kwargs)
        except httpx2.HTTPError as exc:
            raise UpstreamDown(f"{type(exc).__name__}") from exc
        text = response.content
        if not text.strip():
            return response.status_code, None
        try:
            return response.status_code, orjson.loads(text)
        except orjson.JSONDecodeError:
            return response.status_code, None

    def submit(
        self, channel: Channel, secret: str | None, path: str, body: dict[str, Any], mode: Mode | None
    ) -> SubmitAnswer:
        """POST a submit.

        Raises:
            UpstreamDown: no answer, a 5xx/401/403/429, or not an envelope.
        """
        status, data = self._call("POST", channel, self.url(channel, path, mode), secret, body)
        if not isinstance(data, dict) or "code" not in data:
            raise UpstreamDown(f"HTTP {status} without a result envelope", status=status)
        if status in (401, 403, 429) or status >= 500:
            raise UpstreamDown(f"HTTP {status}", status=status)
        try:
            code = int(data.get("code"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UpstreamDown(f"HTTP {status} with a malformed code", status=status) from None
        raw_properties = data.get("properties")
        properties: dict[str, Any] = raw_properties if isinstance(raw_properties, dict) else {}
        return SubmitAnswer(
            code=code, description=str(data.get("description") or ""), result=data.get("result"), properties=properties
        )

    def fetch(self, channel: Channel, secret: str | None, upstream_id: str) -> dict[str, Any] | None:
        """The upstream's task, or None if it does not know it.

        Raises:
            UpstreamDown: no usable answer.
        """
        status, data = self._call("GET", channel, self.url(channel, f"/task/{upstream_id}/fetch"), secret)
        if status in (200, 204, 400, 404) and not isinstance(data, dict):
            return None
        if status != 200 or not isinstance(data, dict):
            raise UpstreamDown(f"HTTP {status}", status=status)
        return data if str(data.get("id", upstream_id)) == upstream_id else None

    def list_tasks(self, channel: Channel, secret: str | None, upstream_ids: list[str]) -> list[dict[str, Any]]:
        """``list-by-condition``: the tasks the upstream knows among ``upstream_ids``.

        Raises:
            UpstreamDown: no usable answer.
        """
        status, data = self._call(
            "POST", channel, self.url(channel, "/task/list-by-condition"), secret, {"ids": upstream_ids}
        )
        if status != 200 or not isinstance(data, list):
            raise UpstreamDown(f"HTTP {status}", status=status)
        return [item for item in data if isinstance(item, dict)]

    def image_seed(self, channel: Channel, secret: str | None, upstream_id: str) -> SubmitAnswer:
        status, data = self._call("GET", channel, self.url(channel, f"/task/{upstream_id}/image-seed"), secret)
        if not isinstance(data, dict) or "code" not in data:
            raise UpstreamDown(f"HTTP {status} without a result envelope", status=status)
        try:
            code = int(data.get("code"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UpstreamDown("malformed code", status=status) from None
        return SubmitAnswer(code=code, description=str(data.get("description") or ""), result=data.get("result"))
