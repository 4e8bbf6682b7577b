"""The Bedrock transport through the relay's UpstreamClient against the mock's Bedrock dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from botocore.credentials import ReadOnlyCredentials
from tollway.bedrock.eventstream import encode_frame
from tollway.bedrock.signing import CredentialCache
from tollway.bedrock.transport import BedrockTransport
from tollway.config.model import Channel
from tollway.errors import InvalidRequest
from tollway.settings import Settings
from tollway.sse import SSEParser
from tollway.upstream.client import UpstreamClient
from tollway.upstream.failures import classify_response
from tollway.upstream.response import UpstreamResponse
from tollway_local.mock import MockServer

_CREDS = ReadOnlyCredentials("AKIDTEST", "secret", None)
_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def _channel(mock: MockServer, prefix: str = "") -> Channel:
    return Channel(
        "bd", "bedrock", "bedrock", mock.url + prefix, (_CLAUDE,), settings={"region": "us-west-2"}, has_key=False
    )


async def _call(
    channel: Channel, path: str, model: str, body: dict[str, Any], **kw: Any
) -> tuple[int, dict[str, str], bytes]:
    client = UpstreamClient(Settings())
    try:
        response = await client.open(channel, path, model, None, orjson.dumps(body), **kw)
        try:
            if response.status == 200 and body.get("stream"):
                return response.status, response.headers, b"".join([c async for c in response.aiter_raw()])
            return response.status, response.headers, await response.read_limited(1 << 20)
        finally:
            await response.aclose()
    finally:
        await client.aclose()


def _sse(raw: bytes) -> list[Any]:
    return SSEParser().feed(raw)


def test_claude_native_stream_is_anthropic_sse_signed_for_the_region(mock: MockServer) -> None:
    body = {"model": "claude", "stream": True, "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}
    status, headers, raw = asyncio.run(_call(_channel(mock), "/messages", _CLAUDE, body))
    assert status == 200 and headers["content-type"] == "text/event-stream"
    events = _sse(raw)
    assert [e.event for e in events][:2] == ["message_start", "content_block_start"]
    assert [e.event for e in events][-2:] == ["message_delta", "message_stop"]
    assert b"invocationMetrics" not in raw
    sent = mock.stats()["requests_log"][-1]
    assert (
        sent["path"] == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream"
    )  # ASGI decodes %3A
    assert "/us-west-2/bedrock/aws4_request" in sent["headers"]["authorization"]
    assert sent["body"]["anthropic_version"] == "bedrock-2023-05-31" and "model" not in sent["body"]


def test_converse_answers_as_openai(mock: MockServer) -> None:
    body = {"model": "nova", "max_tokens": 4, "messages": [{"role": "user", "content": "hi there"}]}
    status, _, raw = asyncio.run(_call(_channel(mock), "/chat/completions", "amazon.nova-pro-v1:0", body))
    answer = orjson.loads(raw)
    assert status == 200 and answer["object"] == "chat.completion" and answer["model"] == "nova"
    assert answer["usage"]["completion_tokens"] == 4 and answer["choices"][0]["finish_reason"] == "length"


def test_converse_stream_answers_openai_chunks_then_usage_then_done(mock: MockServer) -> None:
    body = {"model": "nova", "stream": True, "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}
    _, _, raw = asyncio.run(_call(_channel(mock), "/chat/completions", "amazon.nova-pro-v1:0", body))
    data = [e.data for e in _sse(raw)]
    assert data[-1] == b"[DONE]"
    assert orjson.loads(data[-2])["usage"]["completion_tokens"] == 3


def test_errors_are_classified_by_name(mock: MockServer) -> None:
    body = {"model": "claude", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}
    status, headers, raw = asyncio.run(_call(_channel(mock, "/fault/access_denied"), "/messages", _CLAUDE, body))
    assert status == 403 and classify_response(status, raw, headers).disable_reason


def test_a_throttling_frame_before_any_event_is_an_error_answer(mock: MockServer) -> None:
    body = {
        "model": "c",
        "stream": True,
        "max_tokens": 6,
        "messages": [{"role": "user", "content": "[[fault:stream_throttling]]"}],
    }
    status, headers, raw = asyncio.run(_call(_channel(mock), "/messages", _CLAUDE, body))
    assert status == 429 and classify_response(status, raw, headers).rate_limited


def test_a_corrupt_frame_ends_the_stream_with_an_error_event(mock: MockServer) -> None:
    body = {
        "model": "c",
        "stream": True,
        "max_tokens": 6,
        "messages": [{"role": "user", "content": "[[fault:bad_crc]]"}],
    }
    _, _, raw = asyncio.run(_call(_channel(mock), "/messages", _CLAUDE, body))
    events = _sse(raw)
    assert events[-1].event == "error" and b"checksum" in (events[-1].data or b"")


def test_anthropic_format_to_a_non_claude_model_is_a_400(mock: MockServer) -> None:
    body = {"model": "x", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(InvalidRequest):
        asyncio.run(_call(_channel(mock), "/messages", "amazon.nova-pro-v1:0", body))


class _Trickle(UpstreamResponse):
    """An upstream that hands out one frame per read and counts what it gave."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.given = 0

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> dict[str, str]:
        return {"x-amzn-requestid": "r1"}

    async def _gen(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            self.given += 1
            yield frame

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def aclose(self) -> None:
        return None


def test_each_frame_is_forwarded_before_the_next_is_read() -> None:
    words = ["one ", "two ", "three "]
    frames = [encode_frame({":event-type": "messageStart", ":message-type": "event"}, b'{"role":"assistant"}')]
    frames += [
        encode_frame(
            {":event-type": "contentBlockDelta", ":message-type": "event"},
            orjson.dumps({"contentBlockIndex": 0, "delta": {"text": w}}),
        )
        for w in words
    ]
    upstream = _Trickle(frames)

    async def send(*_: Any) -> UpstreamResponse:
        return upstream

    async def run() -> list[tuple[int, bytes]]:
        transport = BedrockTransport(send, CredentialCache(base=lambda: (_CREDS, None)))
        channel = Channel("bd", "bedrock", "bedrock", "https://bedrock.example", ("m",), has_key=False)
        body = orjson.dumps(
            {"model": "m", "stream": True, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        )
        response = await transport.open(channel, "/chat/completions", "amazon.nova-lite-v1:0", body)
        return [(upstream.given, chunk) async for chunk in response.aiter_raw()]

    seen = asyncio.run(run())
    # Frame k's translation is out while the upstream has given k frames: nothing is held back.
    assert [given for given, _ in seen] == [1, 2, 3, 4]
    assert [orjson.loads(c[6:])["choices"][0]["delta"].get("content") for _, c in seen[1:]] == words
