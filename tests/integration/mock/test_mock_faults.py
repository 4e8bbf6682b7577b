"""Every fault mode, as a client observes it — selected per request (marker, header) and per channel (path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import openai
import orjson
import pytest
from tollway_local.mock import LEAK_KEY, LEAK_URL, MockServer, expected_usage

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer sk-test-channel-key"}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def client(mock: MockServer) -> Iterator[httpx.Client]:
    mock.reset()
    with httpx.Client(base_url=mock.url, headers=AUTH, timeout=10.0, trust_env=False) as c:
        yield c


def chat(content: str, *, stream: bool = False, usage: bool = False, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **fields}
    if stream:
        body["stream"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


def data_lines(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]


def content_count(lines: list[str]) -> int:
    return sum(1 for line in lines if '"content":" ' in line)


ERROR_MODES = [
    ("http500", 500, "server_error", "server_error"),
    ("http502", 502, "server_error", "bad_gateway"),
    ("http503", 503, "server_error", "service_unavailable"),
    ("http429", 429, "requests", "rate_limit_exceeded"),
    ("insufficient_quota", 429, "insufficient_quota", "insufficient_quota"),
    ("http401", 401, "invalid_request_error", "invalid_api_key"),
    ("http400", 400, "invalid_request_error", "context_length_exceeded"),
    ("http404", 404, "invalid_request_error", "model_not_found"),
]


@pytest.mark.parametrize(("mode", "status", "type_", "code"), ERROR_MODES)
@pytest.mark.parametrize("selector", ["marker", "header", "path"])
def test_error_modes(client: httpx.Client, mode: str, status: int, type_: str, code: str, selector: str) -> None:
    body = chat(f"hi [[fault:{mode}]]" if selector == "marker" else "hi", stream=True)
    headers = {"X-Mock-Fault": mode} if selector == "header" else {}
    path = f"/fault/{mode}/v1/chat/completions" if selector == "path" else "/v1/chat/completions"
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (type_, code)
    assert set(error) == {"message", "type", "param", "code"}
    if status >= 500:
        assert LEAK_URL in error["message"]
        assert LEAK_KEY in error["message"]
    if mode == "http429":
        assert response.headers["retry-after"] == "7"
    if mode == "http400":
        assert error["param"] == "messages"


def test_channel_prefix_fails_every_route_and_keeps_the_fault_in_the_log(
    mock: MockServer, client: httpx.Client
) -> None:
    base = mock.fault_base_url("http500")
    assert client.get(f"{base}/models").status_code == 500
    assert client.post(f"{base}/chat/completions", json=chat("x")).status_code == 500
    log = mock.stats()["requests_log"]
    assert [e["faults"] for e in log] == [["http500"], ["http500"]]
    assert [e["error_code"] for e in log] == ["server_error", "server_error"]


def test_channel_prefix_combines_modes(client: httpx.Client) -> None:
    response = client.post("/fault/no_usage,empty_stream/v1/chat/completions", json=chat("x", stream=True, usage=True))
    assert response.status_code == 200
    assert data_lines(response.read()) == ["[DONE]"]


def test_sdk_sees_error_modes_as_its_exceptions(mock: MockServer) -> None:
    with (
        openai.OpenAI(base_url=mock.fault_base_url("http429"), api_key="k", max_retries=0) as sdk,
        pytest.raises(openai.RateLimitError),
    ):
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def test_unknown_mode_is_a_400_from_the_mock(client: httpx.Client) -> None:
    for response in (
        client.post("/v1/chat/completions", json=chat("x [[fault:explode]]")),
        client.post("/v1/chat/completions", json=chat("x"), headers={"X-Mock-Fault": "explode"}),
        client.post("/fault/explode/v1/chat/completions", json=chat("x")),
    ):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "unknown_fault_mode"
        assert "explode" in error["message"]
        assert "cut_after=K" in error["message"]


def test_timeout_sends_nothing_until_the_client_gives_up(mock: MockServer, client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/chat/completions", json=chat("x [[fault:timeout]]", stream=True), timeout=0.3)
    entry = mock.wait_for(lambda s: s["requests_log"][-1]["outcome"] != "pending")["requests_log"][-1]
    assert (entry["status"], entry["client_disconnected"]) == (None, True)


def test_slow_first_delays_the_first_byte(client: httpx.Client) -> None:
    # Ordering, not duration: a client that waits less than the delay gets nothing at all.
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/chat/completions", json=chat("x [[fault:slow_first=5000]]"), timeout=0.3)
    response = client.post("/v1/chat/completions", json=chat("x [[len=2]]"), headers={"X-Mock-Fault": "slow_first=1"})
    assert response.status_code == 200


@pytest.mark.parametrize(("spec", "before"), [("malformed_sse_after=3", 3), ("malformed_sse", 5)])
def test_malformed_sse_then_the_stream_continues(client: httpx.Client, spec: str, before: int) -> None:
    response = client.post("/v1/chat/completions", json=chat(f"x [[len=10]] [[fault:{spec}]]", stream=True, usage=True))
    lines = data_lines(response.read())
    bad = lines.index("{not json")
    assert content_count(lines[:bad]) == before
    assert content_count(lines) == 10
    assert lines[-1] == "[DONE]"
    assert orjson.loads(lines[-2])["usage"]["completion_tokens"] == 10


def test_malformed_sse_on_a_non_stream_request_breaks_the_body(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat("x [[fault:malformed_sse]]"))
    assert response.status_code == 200
    with pytest.raises(ValueError, match="Expecting property name"):
        response.json()


@pytest.mark.parametrize(("spec", "sent"), [("cut_after=3", 3), ("cut", 4), ("cut_after=0", 0)])
def test_cut_closes_the_stream_abruptly(mock: MockServer, client: httpx.Client, spec: str, sent: int) -> None:
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST", "/v1/chat/completions", json=chat(f"x [[len=8]] [[fault:{spec}]]", stream=True, usage=True)
        ) as r,
    ):
        received.extend(line[6:] for line in r.iter_lines() if line.startswith("data: "))
    assert content_count(received) == sent
    assert "[DONE]" not in received
    assert not any('"finish_reason":"stop"' in line or '"choices":[]' in line for line in received)
    stats = mock.wait_for(lambda s: s["streams_cut"] == 1)
    entry = stats["requests_log"][-1]
    assert (entry["outcome"], entry["tokens_sent"], entry["usage"]) == ("cut", sent, None)
    assert (stats["streams_completed"], stats["streams_aborted"]) == (0, 0)


def test_cut_on_a_non_stream_request_closes_mid_body(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat("x [[fault:cut]]"))


def test_no_usage_stream_never_sends_usage_even_when_asked(mock: MockServer, client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat("x [[len=4]] [[fault:no_usage]]", stream=True, usage=True))
    lines = data_lines(response.read())
    assert lines[-1] == "[DONE]"
    assert content_count(lines) == 4
    assert all("usage" not in orjson.loads(line) for line in lines[:-1])
    assert mock.stats()["requests_log"][-1]["usage"] is None


def test_no_usage_non_stream_omits_the_field(client: httpx.Client) -> None:
    data = client.post("/v1/chat/completions", json=chat("x [[len=4]]"), headers={"X-Mock-Fault": "no_usage"}).json()
    assert "usage" not in data
    assert data["choices"][0]["message"]["content"]


def test_empty_stream_is_200_then_done(mock: MockServer, client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=chat("x [[fault:empty_stream]]", stream=True, usage=True))
    assert response.status_code == 200
    assert response.read() == b"data: [DONE]\n\n"
    assert mock.stats()["streams_completed"] == 1


def test_no_usage_and_cut_after_combine(client: httpx.Client) -> None:
    received: list[str] = []
    body = chat("x [[len=6]] [[fault:no_usage]] [[fault:cut_after=3]]", stream=True, usage=True)
    with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", "/v1/chat/completions", json=body) as r:
        received.extend(line[6:] for line in r.iter_lines() if line.startswith("data: "))
    assert content_count(received) == 3
    assert all("usage" not in orjson.loads(line) for line in received)


def test_sse_error_after_k_ends_the_stream_with_an_error_event(mock: MockServer) -> None:
    got: list[str] = []

    def consume() -> None:
        with openai.OpenAI(base_url=mock.base_url, api_key="k", max_retries=0) as sdk:
            stream = sdk.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "x [[len=6]] [[fault:sse_error_after=2]]"}],
                stream=True,
            )
            got.extend(c.choices[0].delta.content or "" for c in stream if c.choices)

    with pytest.raises(openai.APIError) as caught:
        consume()
    assert len([t for t in got if t]) == 2
    assert LEAK_KEY in str(caught.value)


def test_stall_after_k_sends_k_tokens_then_nothing(mock: MockServer, client: httpx.Client) -> None:
    received: list[str] = []
    body = chat("x [[len=6]] [[fault:stall_after=2]]", stream=True)
    with pytest.raises(httpx.ReadTimeout), client.stream("POST", "/v1/chat/completions", json=body, timeout=0.5) as r:
        received.extend(line[6:] for line in r.iter_lines() if line.startswith("data: "))
    assert content_count(received) == 2
    entry = mock.wait_for(lambda s: s["streams_aborted"] == 1)["requests_log"][-1]
    assert (entry["tokens_sent"], entry["client_disconnected"]) == (2, True)


def test_faults_do_not_change_the_usage_that_is_sent(client: httpx.Client) -> None:
    body = chat("x [[len=5]] [[fault:malformed_sse_after=1]]", stream=True, usage=True)
    lines = data_lines(client.post("/v1/chat/completions", json=body).read())
    usage = orjson.loads(lines[-2])["usage"]
    assert usage == expected_usage({"model": "m", "messages": body["messages"]})
