"""Every OpenAI answer of the mock validates against OpenAI's OpenAPI description (tests/support/openapi.py):
non-streaming bodies, each streamed event, errors. A field OpenAI requires that the mock leaves out fails
here before a relay test trusts a shape the real API never sends."""

from __future__ import annotations

import io
import wave
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from tollway_local.mock import MockServer

from tests.support.openapi import schema_errors

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [[len=3]]"}]}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with MockServer() as server, httpx.Client(base_url=server.url, headers=AUTH, trust_env=False, timeout=30) as c:
        yield c


def data_events(text: str) -> list[dict[str, Any]]:
    """The JSON of every `data:` line (not `[DONE]`)."""
    return [
        orjson.loads(line[6:])
        for block in text.split("\n\n")
        for line in block.split("\n")
        if line.startswith("data: {")
    ]


def assert_valid(component: str, instance: Any) -> None:
    errors = schema_errors(component, instance)
    assert not errors, f"{component}: " + "\n".join(errors)


@pytest.mark.parametrize(
    ("path", "body", "component"),
    [
        ("/v1/chat/completions", CHAT, "CreateChatCompletionResponse"),
        ("/v1/chat/completions", CHAT | {"n": 2, "max_tokens": 2}, "CreateChatCompletionResponse"),
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "call [[len=0]] [[tool_calls=2]]"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            },
            "CreateChatCompletionResponse",
        ),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi [[len=3]]"}, "Response"),
        (
            "/v1/responses",
            {"model": "gpt-4o-mini", "input": "hi [[len=9]]", "max_output_tokens": 4, "instructions": "be brief"},
            "Response",
        ),
        ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}, "CreateCompletionResponse"),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b c"]}, "CreateEmbeddingResponse"),
        ("/v1/moderations", {"input": ["fine", "bad [[flag]]"]}, "CreateModerationResponse"),
        ("/v1/images/generations", {"model": "gpt-image-1", "prompt": "a cat", "size": "1024x1024"}, "ImagesResponse"),
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": "a cat"}, "ImagesResponse"),
    ],
)
def test_non_streaming_answers(client: httpx.Client, path: str, body: dict[str, Any], component: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert_valid(component, response.json())


def test_models_list(client: httpx.Client) -> None:
    assert_valid("ListModelsResponse", client.get("/v1/models").json())


@pytest.mark.parametrize("mode", ["http400", "http401", "http404", "http429", "http500", "insufficient_quota"])
def test_error_bodies(client: httpx.Client, mode: str) -> None:
    response = client.post("/v1/chat/completions", json=CHAT, headers={"X-Mock-Fault": mode})
    assert response.status_code >= 400
    assert_valid("ErrorResponse", response.json())


@pytest.mark.parametrize(
    "options", [None, {"include_usage": True}, {"include_usage": True, "include_obfuscation": False}]
)
def test_chat_stream_chunks(client: httpx.Client, options: dict[str, Any] | None) -> None:
    body: dict[str, Any] = CHAT | {"stream": True, "tools": [{"type": "function", "function": {"name": "f"}}]}
    body["messages"] = [{"role": "user", "content": "hi [[len=3]] [[tool_calls=1]]"}]
    if options is not None:
        body["stream_options"] = options
    chunks = data_events(client.post("/v1/chat/completions", json=body).text)
    assert len(chunks) >= 5
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk)


def test_responses_stream_events(client: httpx.Client) -> None:
    events = data_events(
        client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi", "stream": True}).text
    )
    assert events[-1]["type"] == "response.completed"
    for event in events:
        assert_valid("ResponseStreamEvent", event)


def test_completions_stream_chunks(client: httpx.Client) -> None:
    """The description reuses the non-streaming `CreateCompletionResponse` for legacy stream chunks, where the
    real API sends `finish_reason: null` and `usage: null` until the end: those two nulls are the only
    difference allowed; everything else must validate."""
    body = {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "hi",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = data_events(client.post("/v1/completions", json=body).text)
    assert any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)
    for chunk in chunks:
        trimmed = {k: v for k, v in chunk.items() if not (k == "usage" and v is None)}
        trimmed["choices"] = [
            {k: v for k, v in choice.items() if not (k == "finish_reason" and v is None)}
            | ({"finish_reason": "stop"} if choice.get("finish_reason") is None else {})
            for choice in chunk["choices"]
        ]
        assert_valid("CreateCompletionResponse", trimmed)


def test_speech_stream_events(client: httpx.Client) -> None:
    body = {"model": "gpt-4o-mini-tts", "input": "hello there", "voice": "alloy", "stream_format": "sse"}
    events = data_events(client.post("/v1/audio/speech", json=body).text)
    assert events
    for event in events:
        assert_valid("CreateSpeechResponseStreamEvent", event)


def _wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * int(16000 * seconds))
    return out.getvalue()


@pytest.mark.parametrize(
    ("model", "response_format", "component"),
    [
        ("gpt-4o-transcribe", "json", "CreateTranscriptionResponseJson"),
        ("whisper-1", "json", "CreateTranscriptionResponseJson"),
        ("whisper-1", "verbose_json", "CreateTranscriptionResponseVerboseJson"),
    ],
)
def test_transcriptions(client: httpx.Client, model: str, response_format: str, component: str) -> None:
    files = {"file": ("a.wav", _wav(1.0), "audio/wav")}
    response = client.post(
        "/v1/audio/transcriptions", files=files, data={"model": model, "response_format": response_format}
    )
    assert response.status_code == 200, response.text
    assert_valid(component, response.json())


def test_transcription_stream_events(client: httpx.Client) -> None:
    files = {"file": ("a.wav", _wav(1.0), "audio/wav")}
    response = client.post(
        "/v1/audio/transcriptions", files=files, data={"model": "gpt-4o-transcribe", "stream": "true"}
    )
    events = data_events(response.text)
    assert events
    for event in events:
        assert_valid("CreateTranscriptionResponseStreamEvent", event)
