"""The HTTP client for upstreams: one pooled ``httpx2.AsyncClient`` per process, created lazily.

httpx2 is the maintained fork of httpx with the same API; httpx 0.28's connection pool collapses past
≈16 concurrent requests (O(connections²) bookkeeping per request, measured on a 2-core machine), which
the local stack and any multi-concurrency deployment hit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx2

from tollway.bedrock.transport import BedrockTransport
from tollway.config.model import Channel
from tollway.settings import Settings
from tollway.upstream import network
from tollway.upstream.response import UpstreamResponse

__all__ = ["ANTHROPIC_VERSION", "UpstreamClient", "UpstreamResponse", "build_request_target"]


#: Anthropic's API version header when the client sent none (still the only version value).
ANTHROPIC_VERSION = "2023-06-01"


def build_request_target(
    channel: Channel,
    path: str,
    upstream_model: str,
    secret: str | None,
    content_type: str = "application/json",
    protocol_headers: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """The URL and headers of a call to ``path`` (e.g. ``/chat/completions``, possibly with a query) on a
    channel. ``protocol_headers`` are the client's protocol headers an endpoint forwards unchanged
    (``anthropic-version``, ``anthropic-beta``) — never the client's credentials."""
    headers: dict[str, str] = {"content-type": content_type, "accept-encoding": "identity"}
    base = channel.base_url.rstrip("/")
    if channel.type == "anthropic":
        # Anthropic bases are the host root (the SDK appends /v1/messages); a base given with /v1 works too.
        if base.endswith("/v1") and path.startswith("/v1/"):
            base = base[: -len("/v1")]
        url = base + path
        headers["anthropic-version"] = ANTHROPIC_VERSION
        headers.update(protocol_headers or {})
        if secret:
            headers["x-api-key"] = secret
    elif channel.type == "azure":
        url = _azure_url(channel, base, path, upstream_model)
        if secret:
            headers["api-key"] = secret
    else:
        url = base + path
        if secret:
            headers["authorization"] = f"Bearer {secret}"
    # Operator-set extra headers (never the customer's) go last and may override defaults.
    headers.update({k.lower(): v for k, v in channel.headers.items()})
    return url, headers


# Azure serves these under its OpenAI-compatible v1 surface (the model — the deployment name — in the
# body), not per deployment: the Responses API exists only there.
_AZURE_V1_PATHS = ("/responses", "/models")
AZURE_DEFAULT_API_VERSION = "2024-10-21"


def _azure_url(channel: Channel, base: str, path: str, deployment: str) -> str:
    """Azure OpenAI: ``{base}/openai/deployments/{deployment}{path}?api-version=V`` (channel setting
    ``api_version``, default the GA ``2024-10-21``); Responses and model lists on ``{base}/openai/v1{path}``,
    with ``?api-version=`` only when the channel sets ``responses_api_version`` (e.g. ``preview``)."""
    if base.endswith("/openai"):
        base = base[: -len("/openai")]
    route, _, query = path.partition("?")
    params = [query] if query else []
    if route.startswith(_AZURE_V1_PATHS):
        v1_version = channel.settings.get("responses_api_version")
        if v1_version:
            params.append(urlencode({"api-version": str(v1_version)}))
        url = f"{base}/openai/v1{route}"
    else:
        version = str(channel.settings.get("api_version") or AZURE_DEFAULT_API_VERSION)
        params.append(urlencode({"api-version": version}))
        url = f"{base}/openai/deployments/{quote(deployment, safe='-_.')}{route}"
    return url + ("?" + "&".join(params) if params else "")


class UpstreamClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: httpx2.AsyncClient | None = None
        self._bedrock: BedrockTransport | None = None  # built on a bedrock channel's first call

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            s = self._settings
            limits = httpx2.Limits(
                max_connections=s.upstream_max_connections, max_keepalive_connections=s.upstream_max_keepalive
            )
            self._client = httpx2.AsyncClient(
                timeout=httpx2.Timeout(s.upstream_read_timeout_s, connect=s.upstream_connect_timeout_s),
                limits=limits,
                transport=network.transport(limits),  # the same pool, a cheaper idle-connection probe
                follow_redirects=False,  # an upstream redirect is never followed blindly
                trust_env=False,
            )
        return self._client

    async def open(
        self,
        channel: Channel,
        path: str,
        upstream_model: str,
        secret: str | None,
        body: bytes,
        content_type: str = "application/json",
        protocol_headers: dict[str, str] | None = None,
    ) -> UpstreamResponse:
        """POST ``body`` to the channel and return once the status line and headers arrived.

        Raises:
            httpx2.TimeoutException, httpx2.TransportError: the connection failed before an answer.
        """
        if channel.type == "bedrock":
            return await self._bedrock_transport().open(channel, path, upstream_model, body, protocol_headers)
        url, headers = build_request_target(channel, path, upstream_model, secret, content_type, protocol_headers)
        return await self.send(channel, url, headers, body)

    async def send(self, channel: Channel, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        """POST prepared ``headers`` and ``body`` to ``url`` with the channel's timeouts (no header added)."""
        s = self._settings
        timeout = httpx2.Timeout(
            channel.read_timeout_s or s.upstream_read_timeout_s,
            connect=channel.connect_timeout_s or s.upstream_connect_timeout_s,
        )
        client = self._http()
        request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        return UpstreamResponse(await client.send(request, stream=True))

    def _bedrock_transport(self) -> BedrockTransport:
        if self._bedrock is None:
            from tollway.bedrock.transport import BedrockTransport

            self._bedrock = BedrockTransport(self.send)
        return self._bedrock

    async def call(
        self,
        method: str,
        channel: Channel,
        path: str,
        secret: str | None,
        *,
        body: bytes | None = None,
        upstream_model: str = "",
        limit: int = 64 * 1024 * 1024,
    ) -> tuple[int, dict[str, str], bytes]:
        """A small unbilled call (e.g. ``GET /responses/{id}``): status, headers and up to ``limit`` bytes.

        Raises:
            httpx2.TimeoutException, httpx2.TransportError: the connection failed.
        """
        url, headers = build_request_target(channel, path, upstream_model, secret)
        if body is None:
            headers.pop("content-type", None)
        s = self._settings
        timeout = httpx2.Timeout(
            channel.read_timeout_s or s.upstream_read_timeout_s,
            connect=channel.connect_timeout_s or s.upstream_connect_timeout_s,
        )
        client = self._http()
        request = client.build_request(method, url, content=body, headers=headers, timeout=timeout)
        response = UpstreamResponse(await client.send(request, stream=True))
        try:
            return response.status, response.headers, await response.read_limited(limit)
        finally:
            await response.aclose()

    async def get(self, channel: Channel, path: str, secret: str | None) -> tuple[int, Any]:
        """A small GET (channel tests, balance queries); returns status and parsed JSON (or None)."""
        url, headers = build_request_target(channel, path, "", secret)
        response = await self._http().get(url, headers=headers)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
