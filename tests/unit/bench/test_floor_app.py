"""The passthrough floor app (bench/floor_app.py): what it forwards, and that it does nothing else.

The upstream is an ``httpx2.MockTransport`` and the app is driven in-process through
``httpx2.ASGITransport``: no sockets, no timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import orjson
import pytest

from bench.floor_app import FloorConfig, authorized, create_app, wants_stream

CONFIG = FloorConfig("sk-floor", "http://upstream.test/v1", "up-key", {"X-Mock-Tokens-Per-S": "200"})
CLIENT_HEADERS = {"authorization": "Bearer sk-floor", "content-type": "application/json"}
NS_ANSWER = b'{"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":1}}'
STREAM_CHUNKS = [b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', b"data: {}\n\ndata: [DONE]\n\n"]


class Upstream:
    """Records every request the floor sends and answers like the mock (or fails to connect)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.requests: list[httpx2.Request] = []
        self.bodies: list[bytes] = []
        self.fail = fail

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.bodies.append(await request.aread())
        if self.fail:
            raise httpx2.ConnectError("refused", request=request)
        if orjson.loads(self.bodies[-1]).get("stream"):

            async def chunks() -> AsyncIterator[bytes]:
                for chunk in STREAM_CHUNKS:
                    yield chunk

            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=NS_ANSWER)


def _post(
    upstream: Upstream, body: bytes, headers: dict[str, str], path: str = "/v1/chat/completions"
) -> httpx2.Response:
    async def go() -> httpx2.Response:
        app = create_app(CONFIG, transport=httpx2.MockTransport(upstream))
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://floor.test") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


def test_config_from_env_reads_every_variable() -> None:
    config = FloorConfig.from_env(
        {
            "FLOOR_KEY": "k1",
            "FLOOR_UPSTREAM": "http://127.0.0.1:9/v1/",
            "FLOOR_UPSTREAM_KEY": "k2",
            "FLOOR_STREAM_HEADERS": '{"x-mock-tokens-per-s": "200"}',
        }
    )
    assert config == FloorConfig("k1", "http://127.0.0.1:9/v1", "k2", {"x-mock-tokens-per-s": "200"})
    assert (
        FloorConfig.from_env({"FLOOR_KEY": "a", "FLOOR_UPSTREAM": "u", "FLOOR_UPSTREAM_KEY": "b"}).stream_headers == {}
    )


@pytest.mark.parametrize(
    "env",
    [
        {"FLOOR_UPSTREAM": "u", "FLOOR_UPSTREAM_KEY": "b"},
        {"FLOOR_KEY": "", "FLOOR_UPSTREAM": "u", "FLOOR_UPSTREAM_KEY": "b"},
        {"FLOOR_KEY": "a", "FLOOR_UPSTREAM": "u", "FLOOR_UPSTREAM_KEY": "b", "FLOOR_STREAM_HEADERS": "[1]"},
        {"FLOOR_KEY": "a", "FLOOR_UPSTREAM": "u", "FLOOR_UPSTREAM_KEY": "b", "FLOOR_STREAM_HEADERS": '{"x": 1}'},
    ],
)
def test_config_refuses_missing_or_malformed_variables(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="FLOOR_"):
        FloorConfig.from_env(env)


def test_authorized_needs_exactly_the_bearer_key() -> None:
    assert authorized("Bearer sk-floor", "sk-floor")
    assert not authorized("Bearer sk-floo", "sk-floor")
    assert not authorized("sk-floor", "sk-floor")
    assert not authorized("Bearer sk-floor ", "sk-floor")
    assert not authorized(None, "sk-floor")
    assert not authorized("", "sk-floor")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"stream": true}', True),
        (b'{"stream": false}', False),
        (b'{"stream": "true"}', False),
        (b'{"model": "m"}', False),
        (b"[]", None),
        (b"not json", None),
        (b"", None),
    ],
)
def test_wants_stream_reads_the_flag_of_a_json_object(body: bytes, expected: bool | None) -> None:
    assert wants_stream(body) is expected


def test_non_streaming_answer_is_the_upstreams_and_the_body_goes_unchanged() -> None:
    upstream = Upstream()
    body = b'{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "x"}]}'
    response = _post(upstream, body, CLIENT_HEADERS)
    assert response.status_code == 200
    assert response.content == NS_ANSWER
    assert response.headers["content-type"] == "application/json"
    [sent] = upstream.requests
    assert str(sent.url) == "http://upstream.test/v1/chat/completions"
    assert upstream.bodies == [body]
    assert sent.headers["authorization"] == "Bearer up-key"  # the upstream's key, never the client's
    assert "x-mock-tokens-per-s" not in sent.headers  # stream headers go on streams only


def test_stream_bytes_are_forwarded_as_they_came() -> None:
    upstream = Upstream()
    response = _post(upstream, b'{"model": "m", "stream": true}', CLIENT_HEADERS)
    assert response.status_code == 200
    assert response.content == b"".join(STREAM_CHUNKS)
    assert response.headers["content-type"].startswith("text/event-stream")
    [sent] = upstream.requests
    assert sent.headers["x-mock-tokens-per-s"] == "200"
    assert sent.headers["authorization"] == "Bearer up-key"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Bearer up-key"}])
def test_a_wrong_key_is_refused_before_the_upstream(headers: dict[str, str]) -> None:
    upstream = Upstream()
    response = _post(upstream, b'{"model": "m"}', headers)
    assert response.status_code == 401
    assert upstream.requests == []


def test_a_body_that_is_not_a_json_object_is_a_400() -> None:
    upstream = Upstream()
    response = _post(upstream, b"[1, 2]", CLIENT_HEADERS)
    assert response.status_code == 400
    assert upstream.requests == []


def test_an_unreachable_upstream_is_a_502() -> None:
    response = _post(Upstream(fail=True), b'{"model": "m"}', CLIENT_HEADERS)
    assert response.status_code == 502
    assert orjson.loads(response.content)["error"]["message"]


def test_nothing_else_is_served() -> None:
    assert _post(Upstream(), b"{}", CLIENT_HEADERS, path="/v1/embeddings").status_code == 404

    async def health() -> httpx2.Response:
        app = create_app(CONFIG, transport=httpx2.MockTransport(Upstream()))
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://floor.test") as client:
            return await client.get("/healthz")

    assert asyncio.run(health()).status_code == 200
