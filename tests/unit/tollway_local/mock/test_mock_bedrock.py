"""The mock's Bedrock runtime dialect over loopback: signatures checked, frames with real CRCs, faults."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer
from tollway.bedrock.signing import sign_request
from tollway_local.mock import MockServer

_CREDS = ReadOnlyCredentials("AKIDMOCKTEST", "secret", None)
_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def _post(
    mock: MockServer, model: str, action: str, body: dict[str, Any], *, sign: bool = True, prefix: str = ""
) -> httpx.Response:
    url = f"{mock.url}{prefix}/model/{model.replace(':', '%3A')}/{action}"
    content = orjson.dumps(body)
    headers = {"content-type": "application/json"}
    if sign:
        headers = sign_request(_CREDS, "us-east-1", "POST", url, headers, content)
    return httpx.post(url, content=content, headers=headers)


def _frames(raw: bytes) -> list[tuple[dict[str, Any], Any]]:
    buffer = EventStreamBuffer()  # botocore's own decoder: the CRCs are real
    buffer.add_data(raw)
    return [(dict(m.headers), orjson.loads(m.payload)) for m in buffer]


def _claude(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_unsigned_and_malformed_signatures_are_refused(mock: MockServer) -> None:
    answer = _post(mock, _CLAUDE, "invoke", _claude(), sign=False)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    url = f"{mock.url}/model/x/invoke"
    bad = httpx.post(url, content=b"{}", headers={"authorization": "AWS4-HMAC-SHA256 Credential=nonsense"})
    assert bad.status_code == 403 and bad.headers["x-amzn-errortype"].startswith("IncompleteSignatureException")


def test_invoke_answers_an_anthropic_message(mock: MockServer) -> None:
    answer = _post(mock, _CLAUDE, "invoke", _claude())
    assert answer.status_code == 200
    message = answer.json()
    assert message["type"] == "message" and message["content"][0]["type"] == "text"
    assert message["usage"]["output_tokens"] == 8 and message["stop_reason"] == "max_tokens"


def test_invoke_refuses_a_body_with_model_or_the_wrong_version(mock: MockServer) -> None:
    assert _post(mock, _CLAUDE, "invoke", {**_claude(), "model": "x"}).status_code == 400
    answer = _post(mock, _CLAUDE, "invoke", {**_claude(), "anthropic_version": "2023-06-01"})
    assert answer.status_code == 400 and answer.headers["x-amzn-errortype"].startswith("ValidationException")


def test_the_stream_is_anthropic_events_in_chunk_frames_with_metrics(mock: MockServer) -> None:
    answer = _post(mock, _CLAUDE, "invoke-with-response-stream", _claude("stream me"))
    assert answer.headers["content-type"] == "application/vnd.amazon.eventstream"
    frames = _frames(answer.content)
    assert all(h[":event-type"] == "chunk" and h[":message-type"] == "event" for h, _ in frames)
    events = [orjson.loads(base64.b64decode(p["bytes"])) for _, p in frames]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 8
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 8


def test_cache_control_writes_then_reads_per_access_key(mock: MockServer) -> None:
    system = [
        {"type": "text", "text": "a long system prompt " * 5, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    first = _post(mock, _CLAUDE, "invoke", _claude("q one", system=system)).json()["usage"]
    second = _post(mock, _CLAUDE, "invoke", _claude("q two", system=system)).json()["usage"]
    assert first["cache_creation"]["ephemeral_1h_input_tokens"] == 20 and first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == 20 and second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] == 2


def test_converse_and_converse_stream(mock: MockServer) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "hi you"}]}], "inferenceConfig": {"maxTokens": 5}}
    whole = _post(mock, "amazon.nova-pro-v1:0", "converse", body).json()
    assert whole["stopReason"] == "max_tokens" and whole["usage"]["outputTokens"] == 5
    frames = _frames(_post(mock, "amazon.nova-pro-v1:0", "converse-stream", body).content)
    kinds = [h[":event-type"] for h, _ in frames]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    assert frames[-1][1]["usage"]["inputTokens"] == 2


def test_converse_tools_are_called_then_answered(mock: MockServer) -> None:
    tools = {"tools": [{"toolSpec": {"name": "wx", "inputSchema": {"json": {"type": "object"}}}}]}
    body = {"messages": [{"role": "user", "content": [{"text": "weather"}]}], "toolConfig": tools}
    call = _post(mock, "m", "converse", body).json()
    assert call["stopReason"] == "tool_use"
    use = call["output"]["message"]["content"][0]["toolUse"]
    body["messages"] += [
        call["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny"}]}}]},
    ]
    assert _post(mock, "m", "converse", body).json()["stopReason"] != "tool_use"


@pytest.mark.parametrize(
    ("mode", "status", "name"),
    [
        ("throttling", 429, "ThrottlingException"),
        ("access_denied", 403, "AccessDeniedException"),
        ("quota", 400, "ServiceQuotaExceededException"),
        ("not_ready", 429, "ModelNotReadyException"),
    ],
)
def test_fault_modes_answer_aws_errors(mock: MockServer, mode: str, status: int, name: str) -> None:
    answer = _post(mock, _CLAUDE, "invoke", _claude(), prefix=f"/fault/{mode}")
    assert answer.status_code == status and answer.headers["x-amzn-errortype"].split(":")[0] == name
    assert "message" in answer.json()
    marker = _post(mock, _CLAUDE, "invoke", _claude(f"[[fault:{mode}]] hi"))
    assert marker.status_code == status


def test_stream_faults(mock: MockServer) -> None:
    throttled = _frames(
        _post(mock, _CLAUDE, "invoke-with-response-stream", _claude("[[fault:stream_throttling]]")).content
    )
    assert (
        throttled[0][0][":message-type"] == "exception" and throttled[0][0][":exception-type"] == "throttlingException"
    )
    raw = _post(mock, _CLAUDE, "invoke-with-response-stream", _claude("[[fault:bad_crc]]")).content
    with pytest.raises(Exception, match="(?i)checksum|crc"):
        _frames(raw)
