"""Every ready event in events/relay/ — the files `sam local invoke RelayFunction -e …` and the SAM
docs use — replayed through the relay's buffered Lambda handler (relay.lambda_buffered), which drives
the same ASGI app the Lambda runs under Lambda Web Adapter. Memory stores, a mock upstream on loopback,
and the example key the events carry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from relay import lambda_buffered
from relay.app import create_app
from tollway.accounts.model import ApiKey, KeyStatus
from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway.keys import display_prefix, hash_key
from tollway.memory.backend import MemoryBackend
from tollway.mj.runtime import runtime_for
from tollway.services import LazyServices, Services
from tollway.settings import Settings
from tollway_local.gateway import LambdaContext
from tollway_local.mock import MockConfig, MockServer

EVENTS = Path(__file__).resolve().parents[3] / "events" / "relay"
EXAMPLE_KEY = "sk-EventsExampleKeyForSamLocalEventsExampleKe2Qswnc"


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Services, str]]:
    services = Services.in_memory(Settings(), MemoryBackend())
    context = AdminContext(services=services, actor="test")

    def admin(command: str, **args: Any) -> Any:
        envelope = load().dispatch(command, args, context)
        assert envelope["ok"], envelope
        return envelope["result"]

    with MockServer(MockConfig.fast()) as mock:
        account = admin("account.create", name="events example", credit_usd="1.00")["account_id"]
        services.accounts.create_key(
            ApiKey(
                key_hash=hash_key(EXAMPLE_KEY),
                key_id="key_events_example",
                account_id=account,
                name="events example",
                prefix=display_prefix(EXAMPLE_KEY),
                status=KeyStatus.ACTIVE,
                created_at=0,
            )
        )
        admin("channel.add", name="mock", type="mock", base_url=mock.base_url, api_key="k", models=["gpt-4.1-mini"])
        admin("mj.add-channel", name="mj mock", base_url=mock.url, api_key="mj-k")
        lambda_buffered.configure(create_app(services.settings, LazyServices(lambda: services)))
        try:
            yield services, account
        finally:
            lambda_buffered.configure(None)
            runtime_for(services).close()


def invoke(name: str) -> dict[str, Any]:
    result = lambda_buffered.handler(event(name), LambdaContext("tollway-relay-events"))
    assert set(result) >= {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
    assert result["headers"]["x-request-id"]
    return result


def test_every_relay_event_is_an_api_gateway_rest_proxy_event() -> None:
    names = sorted(p.name for p in EVENTS.glob("*.json"))
    assert names == ["bad-key.json", "chat-stream.json", "chat.json", "mj-imagine.json", "models.json"]
    for name in names:
        data = event(name)
        assert data["requestContext"]["stage"] and data["httpMethod"] in ("GET", "POST")
        assert data["resource"] == "/{proxy+}" and data["pathParameters"]["proxy"] == data["path"].lstrip("/")


def test_chat(world: tuple[Services, str]) -> None:
    services, account = world
    result = invoke("chat.json")
    assert result["statusCode"] == 200 and not result["isBase64Encoded"]
    body = json.loads(result["body"])
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] > 0
    found = load().dispatch("usage.query", {"account_id": account}, AdminContext(services, "test"))["result"]
    assert any(r["request_id"] == result["headers"]["x-request-id"] for r in found["records"])


def test_chat_stream_arrives_whole(world: tuple[Services, str]) -> None:
    result = invoke("chat-stream.json")
    assert result["statusCode"] == 200
    assert result["headers"]["content-type"].startswith("text/event-stream")
    lines = [line for line in result["body"].split("\n") if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) > 2
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[0]["object"] == "chat.completion.chunk" and chunks[-1]["usage"]["total_tokens"] > 0


def test_models(world: tuple[Services, str]) -> None:
    result = invoke("models.json")
    assert result["statusCode"] == 200
    assert "gpt-4.1-mini" in [m["id"] for m in json.loads(result["body"])["data"]]


def test_midjourney_submit(world: tuple[Services, str]) -> None:
    result = invoke("mj-imagine.json")
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["code"] == 1 and body["result"]


def test_a_bad_key_is_refused(world: tuple[Services, str]) -> None:
    result = invoke("bad-key.json")
    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"]["code"] in ("invalid_api_key", "invalid_key")


def test_the_ledger_balances_after_the_events(world: tuple[Services, str]) -> None:
    services, account = world
    assert services.ledger.audit(account).ok
