"""The mock upstream over real HTTP: non-streaming chat, models, auth, routing, bad input, inspection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer, completion_text, expected_usage

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


def chat_body(content: str, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **fields}


def test_non_stream_answer_has_openai_shape_and_exact_usage(client: httpx.Client) -> None:
    body = chat_body("hello world [[len=6]] [[cached=4]] [[reasoning=3]]")
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-4o-mini"
    assert data["id"].startswith("chatcmpl-")
    [choice] = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == completion_text(body["messages"], 6)
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == expected_usage(body)
    assert data["usage"]["completion_tokens"] == 9


def test_same_request_gives_same_text(client: httpx.Client) -> None:
    body = chat_body("determinism please")
    first = client.post("/v1/chat/completions", json=body).json()
    second = client.post("/v1/chat/completions", json=body).json()
    assert first["choices"] == second["choices"]
    assert first["id"] != second["id"]


def test_n_3_gives_three_distinct_choices_and_usage_counts_all(client: httpx.Client) -> None:
    body = chat_body("three please [[len=4]]", n=3)
    data = client.post("/v1/chat/completions", json=body).json()
    texts = [c["message"]["content"] for c in data["choices"]]
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert texts == [completion_text(body["messages"], 4, i) for i in range(3)]
    assert len(set(texts)) == 3
    assert data["usage"]["completion_tokens"] == 12


def test_max_tokens_caps_the_answer_with_finish_reason_length(client: httpx.Client) -> None:
    body = chat_body("long [[len=30]]", max_tokens=5)
    data = client.post("/v1/chat/completions", json=body).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert len(data["choices"][0]["message"]["content"].split()) == 5
    assert data["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/chat/completions", "/v1/chat/completions/", "/openai/deployments/d1/chat/completions"],
)
def test_routes_match_on_the_path_suffix(client: httpx.Client, path: str) -> None:
    assert client.post(path, json=chat_body("hi [[len=1]]")).status_code == 200


def test_models_lists_the_configured_models(client: httpx.Client) -> None:
    data = client.get("/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["gpt-6.2-sol", "gpt-5.4-mini", "gpt-4o-mini", "mock-model"]
    assert client.get("/models").status_code == 200


def test_unknown_route_and_wrong_method_answer_openai_errors(client: httpx.Client) -> None:
    missing = client.post("/v1/files", json={})
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert client.get("/v1/chat/completions").status_code == 405


def test_missing_key_is_401_and_api_key_header_is_accepted(mock: MockServer) -> None:
    with httpx.Client(base_url=mock.url, timeout=10.0, trust_env=False) as c:
        assert c.post("/v1/chat/completions", json=chat_body("hi")).status_code == 401
        assert (
            c.post("/v1/chat/completions", json=chat_body("hi"), headers={"Authorization": "Bearer"}).status_code == 401
        )
        ok = c.post("/v1/chat/completions", json=chat_body("hi [[len=1]]"), headers={"api-key": "azure-key"})
        assert ok.status_code == 200


def test_configured_key_must_match_exactly() -> None:
    with MockServer(MockConfig.fast(api_key="sk-right")) as server, httpx.Client(trust_env=False) as c:
        url = f"{server.url}/v1/chat/completions"
        wrong = c.post(url, json=chat_body("hi"), headers={"Authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 401
        assert wrong.json() == {
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert c.post(url, json=chat_body("hi"), headers={"Authorization": "Bearer sk-right"}).status_code == 200
        assert c.post(url, json=chat_body("hi"), headers={"api-key": "sk-right"}).status_code == 200


def test_malformed_json_and_missing_fields_are_400(client: httpx.Client) -> None:
    bad_json = client.post("/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/v1/chat/completions", json=[1, 2]).status_code == 400
    no_model = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert no_model.status_code == 400
    assert no_model.json()["error"]["param"] == "model"
    no_messages = client.post("/v1/chat/completions", json={"model": "m"})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    stream_options_without_stream = client.post(
        "/v1/chat/completions", json=chat_body("hi", stream_options={"include_usage": True})
    )
    assert stream_options_without_stream.status_code == 400


def test_extra_fields_are_accepted_and_logged(mock: MockServer, client: httpx.Client) -> None:
    body = chat_body("hi [[len=1]]", temperature=0.2, user="u-1", some_vendor_field={"x": [1, 2]})
    response = client.post("/v1/chat/completions?api-version=2024-10-21", json=body, headers={"X-Custom": "Yes"})
    assert response.status_code == 200
    [entry] = mock.stats()["requests_log"]
    assert entry["body"] == body
    assert entry["headers"]["x-custom"] == "Yes"
    assert entry["headers"]["authorization"] == AUTH["Authorization"]
    assert entry["query"] == "api-version=2024-10-21"
    assert entry["mock_request_id"] == response.headers["x-mock-request-id"]
    assert (entry["status"], entry["stream"], entry["tokens_sent"], entry["completed"]) == (200, False, 0, True)
    assert entry["usage"] == expected_usage(body)


def test_every_response_carries_a_mock_request_id(client: httpx.Client) -> None:
    responses = [
        client.post("/v1/chat/completions", json=chat_body("hi [[len=1]]")),
        client.post("/v1/chat/completions", json={"model": "m"}),
        client.get("/v1/nope"),
        client.get("/v1/models"),
        client.get("/_mock/stats"),
        client.post("/_mock/reset"),
    ]
    ids = [r.headers["x-mock-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)


def test_stats_count_requests_by_path_and_reset_clears_them(mock: MockServer, client: httpx.Client) -> None:
    client.get("/v1/models")
    client.get("/v1/models")
    client.post("/fault/http500/v1/chat/completions", json=chat_body("x"))
    stats = mock.stats()
    assert stats["requests"] == {"/v1/models": 2, "/fault/http500/v1/chat/completions": 1}
    assert stats["requests_total"] == 3
    assert [e["status"] for e in stats["requests_log"]] == [200, 200, 500]
    mock.reset()
    stats = mock.stats()
    assert (stats["requests"], stats["requests_log"], stats["streams_started"]) == ({}, [], 0)


def test_request_log_is_bounded() -> None:
    with MockServer(MockConfig.fast(log_size=3)) as server, httpx.Client(headers=AUTH, trust_env=False) as c:
        for _ in range(5):
            c.get(f"{server.url}/v1/models")
        stats = server.stats()
        assert stats["requests"] == {"/v1/models": 5}
        assert len(stats["requests_log"]) == 3
        assert stats["requests_log"][-1]["mock_request_id"].endswith("000005")
