"""channel.* — two-store writes that compensate (secret store + config store), listings that never
show secrets, and the probes (test call, upstream balance) against a scripted upstream."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from tollway import channel_probe
from tollway.admin.registry import AdminContext
from tollway.config.dynamodb import DynamoConfig
from tollway.config.memory import MemoryConfig
from tollway.config.model import Channel
from tollway.errors import StoreUnavailable
from tollway.secrets_cache import channel_secret_name
from tollway.settings import Settings

from tests.support.factories import Stores
from tests.unit.admin.helpers import fail, run, services_of


class _FailingPuts:
    """Mixed into a real config store: every channel write fails after the secret was written."""

    def put_channel(self, channel: Channel, *, create: bool) -> None:
        raise StoreUnavailable("the config table is unavailable")


class FailingMemoryConfig(_FailingPuts, MemoryConfig):
    pass


class FailingDynamoConfig(_FailingPuts, DynamoConfig):
    pass


def failing_context(stores: Stores) -> AdminContext:
    failing: MemoryConfig | DynamoConfig
    if isinstance(stores.config, MemoryConfig):
        failing = FailingMemoryConfig(stores.config.backend)
    else:
        assert isinstance(stores.config, DynamoConfig)
        failing = FailingDynamoConfig(stores.config.client, stores.config.table)
    services = services_of(stores)
    services.config = failing
    return AdminContext(services=services, actor="local")


def secret_of(stores: Stores, channel_id: str) -> str | None:
    return stores.secrets.get(channel_secret_name(stores.settings.secrets_prefix, channel_id))


def test_a_channel_add_whose_record_write_fails_leaves_neither_secret_nor_record(stores: Stores) -> None:
    context = failing_context(stores)
    error = fail(
        context,
        "channel.add",
        channel_id="half",
        name="half",
        base_url="https://up.example/v1",
        api_key="sk-up-half",
        models=["m"],
    )
    assert error["code"] == "store_unavailable"
    assert stores.config.get_channel("half") is None
    assert secret_of(stores, "half") is None  # written first, then removed again


@pytest.mark.parametrize("command", ["mj.add-channel", "suno.add-channel"])
def test_the_task_channel_adds_compensate_the_same_way(stores: Stores, command: str) -> None:
    context = failing_context(stores)
    error = fail(context, command, channel_id="half", name="half", base_url="https://up.example", api_key="k-half")
    assert error["code"] == "store_unavailable"
    assert stores.config.get_channel("half") is None
    assert secret_of(stores, "half") is None


@pytest.mark.parametrize("command", ["channel.add", "mj.add-channel", "suno.add-channel"])
def test_a_channel_add_shows_extra_headers_by_name_only(stores: Stores, admin: AdminContext, command: str) -> None:
    extra: dict[str, Any] = {"models": ["m"]} if command == "channel.add" else {}
    out = run(
        admin,
        command,
        channel_id="hdr",
        name="hdr",
        base_url="https://up.example",
        headers={"X-Upstream-Token": "tok-secret"},
        **extra,
    )
    assert out["headers"] == {"X-Upstream-Token": "[set]"}
    assert "tok-secret" not in json.dumps(out)


def test_a_channel_update_whose_record_write_fails_restores_the_old_key(stores: Stores, admin: AdminContext) -> None:
    run(
        admin,
        "channel.add",
        channel_id="keep",
        name="keep",
        base_url="https://up.example/v1",
        api_key="old",
        models=["m"],
    )
    error = fail(failing_context(stores), "channel.update", channel_id="keep", api_key="new", weight=5)
    assert error["code"] == "store_unavailable"
    assert secret_of(stores, "keep") == "old"
    channel = stores.config.get_channel("keep")
    assert channel is not None and channel.weight == 1


def test_update_list_and_the_secrets_that_never_come_back(stores: Stores, admin: AdminContext) -> None:
    added = run(
        admin,
        "channel.add",
        channel_id="up",
        name="up",
        base_url="https://up.example/v1",
        api_key="sk-first",
        models=["m"],
        headers={"x-upstream-token": "header-secret"},
    )
    updated = run(admin, "channel.update", channel_id="up", api_key="sk-second", groups=["vip"], priority=5)
    assert (updated["groups"], updated["priority"], updated["models"]) == (["vip"], 5, ["m"])
    assert secret_of(stores, "up") == "sk-second"
    listed = run(admin, "channel.list")
    text = json.dumps([added, updated, listed])
    assert "sk-first" not in text and "sk-second" not in text and "header-secret" not in text
    assert listed[0]["headers"] == {"x-upstream-token": "[set]"}
    assert fail(admin, "channel.update", channel_id="nope", weight=2)["code"] == "not_found"


def scripted(responses: dict[str, tuple[int, Any]], seen: list[httpx2.Request]) -> Any:
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        status, body = responses.get(request.url.path, (404, {"error": {"message": "no such route"}}))
        return httpx2.Response(status, json=body)

    def factory(settings: Settings) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(handle))

    return factory


def test_channel_test_makes_one_minimal_call_and_shows_latency(
    admin: AdminContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[httpx2.Request] = []
    reply = {"choices": [{"message": {"content": "OK"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    monkeypatch.setattr(channel_probe, "make_client", scripted({"/v1/chat/completions": (200, reply)}, seen))
    run(admin, "channel.add", channel_id="tt", name="t", base_url="https://up.example/v1", api_key="k", models=["m"])
    result = run(admin, "channel.test", channel_id="tt")
    assert result["ok"] is True and result["reply"] == "OK" and isinstance(result["latency_ms"], int)
    (request,) = seen
    assert request.headers["authorization"] == "Bearer k"
    assert json.loads(request.content)["max_tokens"] == 16


def test_channel_test_reports_an_upstream_refusal_without_its_secrets(
    admin: AdminContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = {"error": {"message": "Incorrect API key provided: sk-abcdefghijklmnopqrstuvwxyz0123"}}
    monkeypatch.setattr(channel_probe, "make_client", scripted({"/v1/chat/completions": (401, refusal)}, []))
    run(admin, "channel.add", channel_id="tt", name="t", base_url="https://up.example/v1", api_key="k", models=["m"])
    result = run(admin, "channel.test", channel_id="tt")
    assert result["ok"] is False and result["status"] == 401
    assert "sk-abcdefghijklmnopqrstuvwxyz0123" not in result["error"]


def test_channel_balance_of_a_relay_style_upstream(admin: AdminContext, monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {
        "/v1/dashboard/billing/subscription": (200, {"hard_limit_usd": 25.5}),
        "/v1/dashboard/billing/usage": (200, {"total_usage": 1050}),  # cents
    }
    monkeypatch.setattr(channel_probe, "make_client", scripted(routes, []))
    run(admin, "channel.add", channel_id="bb", name="b", base_url="https://relay.example/v1", api_key="k", models=["m"])
    result = run(admin, "channel.balance", channel_id="bb")
    assert result["supported"] is True and result["balance_usd"] == "15.0"


def test_channel_balance_where_none_is_exposed(admin: AdminContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_probe, "make_client", scripted({}, []))
    run(admin, "channel.add", channel_id="nn", name="n", base_url="https://up.example/v1", api_key="k", models=["m"])
    result = run(admin, "channel.balance", channel_id="nn")
    assert result["supported"] is False and result["balance_usd"] is None
