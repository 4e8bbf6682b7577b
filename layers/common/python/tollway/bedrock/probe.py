"""``channel test`` for a bedrock channel: one signed Converse call (every Bedrock text model takes it)."""

from __future__ import annotations

from typing import Any

import httpx2
import orjson
from tollway.bedrock.transport import BedrockTransport
from tollway.config.model import Channel
from tollway.upstream.response import UpstreamResponse

__all__ = ["probe_bedrock"]


async def probe_bedrock(client: httpx2.AsyncClient, channel: Channel, upstream_model: str) -> tuple[int, Any]:
    """(HTTP status, parsed answer): an OpenAI ``chat.completion`` on success, Bedrock's error body else.

    Raises:
        httpx2.HTTPError: the connection failed.
    """
    timeout = httpx2.Timeout(channel.read_timeout_s or 60.0, connect=channel.connect_timeout_s or 10.0)

    async def send(_: Channel, url: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        return UpstreamResponse(await client.send(request, stream=True))

    body = {"model": upstream_model, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 16}
    response = await BedrockTransport(send).open(channel, "/chat/completions", upstream_model, orjson.dumps(body))
    try:
        raw = await response.read_limited(1 << 20)
    finally:
        await response.aclose()
    try:
        return response.status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return response.status, None
