"""The mj.* admin commands through the registry (as every transport reaches them), on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway.mj.runtime import runtime_for

from tests.unit.tollway.mj.kit import Env, customer, services


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    with services(request.param) as made:
        yield made
        runtime_for(made.svc).close()


def run(env: Env, command: str, **args: Any) -> dict[str, Any]:
    envelope = load().dispatch(command, args, AdminContext(services=env.svc, actor="test"))
    return envelope


def test_settings_show_change_and_reset(env: Env) -> None:
    shown = run(env, "mj.settings")["result"]
    assert (shown["default_mode"], shown["default_image_mode"], shown["task_timeout_s"]) == ("fast", "relay", 3600.0)
    changed = run(env, "mj.settings", default_mode="relax", image_proxy_base="https://img.example", task_timeout_s=600)
    assert changed["ok"] and changed["result"]["default_mode"] == "relax"
    assert runtime_for(env.svc).options().image_proxy_base == "https://img.example"  # seen at once here
    assert run(env, "mj.settings", image_proxy_base="")["result"]["image_proxy_base"] is None
    assert run(env, "mj.settings")["result"]["default_mode"] == "relax"
    assert run(env, "mj.settings", reset=True)["result"]["default_mode"] == "fast"
    refused = run(env, "mj.settings", default_mode="warp", task_timeout_s=1)
    assert refused["error"]["code"] == "invalid_args"
    assert {p["field"] for p in refused["error"]["details"]} == {"default_mode", "task_timeout_s"}


def test_add_channel_is_a_midjourney_channel_with_its_key_in_the_secret_store(env: Env) -> None:
    added = run(env, "mj.add-channel", name="proxy", base_url="https://mj.example", api_key="s3cret", modes=["relax"])
    assert added["ok"], added
    channel = added["result"]
    assert channel["type"] == "midjourney" and "mj_imagine" in channel["models"] and "mj_upscale" in channel["models"]
    assert channel["settings"] == {"mode_path": False, "mode_flags": True, "modes": ["relax"]}
    assert "s3cret" not in str(added)
    assert env.svc.channel_secrets.get(channel["channel_id"]) == "s3cret"
    again = run(env, "mj.add-channel", name="p", base_url="https://mj.example", channel_id=channel["channel_id"])
    assert again["error"]["code"] == "conflict"


def test_key_and_group_settings(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    set_ = run(env, "mj.key-settings", key_id=who.key.key_id, mode="turbo", image_mode="origin")
    assert set_["result"]["settings"] == {"mj_mode": "turbo", "mj_image_mode": "origin"}
    key = env.svc.accounts.get_key(who.key.key_hash)
    assert key is not None and key.settings == {"mj_mode": "turbo", "mj_image_mode": "origin"}
    cleared = run(env, "mj.key-settings", key_id=who.key.key_id, mode="")
    assert cleared["result"]["settings"] == {"mj_image_mode": "origin"}
    assert run(env, "mj.key-settings", key_id="key_nope", mode="fast")["error"]["code"] == "not_found"
    assert run(env, "mj.key-settings", key_id=who.key.key_id, mode="warp")["error"]["code"] == "invalid_args"

    group = run(env, "mj.group-modes", group="vip", modes=["relax", "relax", "fast"])["result"]
    assert group["settings"] == {"mj_modes": ["relax", "fast"]}
    assert env.svc.config.list_groups()["vip"].settings == {"mj_modes": ["relax", "fast"]}
    assert run(env, "mj.group-modes", group="vip")["result"]["settings"] == {}


def test_task_and_sweep(env: Env) -> None:
    assert run(env, "mj.task", task_id="1730000000000123")["error"]["code"] == "not_found"
    assert run(env, "mj.task", task_id="x")["error"]["code"] == "invalid_args"
    report = run(env, "mj.sweep")["result"]
    assert report["open"] == 0 and report["refunded"] == []
