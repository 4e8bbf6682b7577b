"""The suno.* admin commands through the registry (as every transport reaches them), on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tollway.admin.commands import load
from tollway.admin.registry import AdminContext

from tests.unit.tollway.mj.kit import Env, charged_task, customer, services
from tests.unit.tollway.suno.kit import suno_task


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    with services(request.param) as made:
        yield made


def run(env: Env, command: str, **args: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = load().dispatch(command, args, AdminContext(services=env.svc, actor="test"))
    return envelope


def test_add_channel_is_a_suno_channel_with_its_key_in_the_secret_store(env: Env) -> None:
    added = run(env, "suno.add-channel", name="suno", base_url="https://suno.example/", api_key="s3cret")
    assert added["ok"], added
    channel = added["result"]
    assert channel["type"] == "suno" and channel["models"] == ["suno_lyrics", "suno_music"]
    assert channel["base_url"] == "https://suno.example" and channel["groups"] == ["default"]
    assert "s3cret" not in str(added)
    assert env.svc.channel_secrets.get(channel["channel_id"]) == "s3cret"
    assert env.svc.catalog.get().channels_for("suno_music", "default")[0].channel_id == channel["channel_id"]
    again = run(env, "suno.add-channel", name="s", base_url="https://suno.example", channel_id=channel["channel_id"])
    assert again["error"]["code"] == "conflict"
    wrong = run(env, "suno.add-channel", name="s", base_url="https://suno.example", models=["mj_imagine"])
    assert wrong["error"]["code"] == "invalid_args"


def test_task_shows_suno_tasks_only(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    song = suno_task(env, who, 100_000, upstream_id="up-1")
    shown = run(env, "suno.task", task_id=song.task_id)["result"]
    assert (shown["task_id"], shown["kind"], shown["upstream_id"], shown["charge"]) == (
        song.task_id,
        "suno",
        "up-1",
        100_000,
    )
    assert "key_hash" not in shown and "mode" not in shown
    mj = charged_task(env, who, 200_000)
    assert run(env, "suno.task", task_id=mj.task_id)["error"]["code"] == "not_found"
    assert run(env, "mj.task", task_id=mj.task_id)["ok"]
    assert run(env, "suno.task", task_id="task_" + "0" * 32)["error"]["code"] == "not_found"
