"""channel.add / channel.update for bedrock channels: no key, settings checked, base URL from the region."""

from __future__ import annotations

from typing import Any

import pytest
from tollway.admin.registry import AdminContext

from tests.unit.admin.helpers import fail, run

ROLE = "arn:aws:iam::123456789012:role/tollway-bedrock"


def test_a_bedrock_channel_needs_no_key_and_gets_its_regional_endpoint(admin: AdminContext) -> None:
    added = run(admin, "channel.add", name="b", type="bedrock", models=["m"], settings={"region": "eu-west-1"})
    assert added["base_url"] == "https://bedrock-runtime.eu-west-1.amazonaws.com" and added["has_key"] is False
    vpc = run(admin, "channel.add", name="v", type="bedrock", models=["m"], base_url="https://vpce.example")
    assert vpc["base_url"] == "https://vpce.example"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"api_key": "sk-nope"}, "no API key"),
        ({"settings": {"region": "Mars"}}, "region"),
        ({"settings": {"role_arn": "role/x"}}, "role ARN"),
        ({"settings": {"regoin": "us-east-1"}}, "Unknown bedrock settings"),
        ({"settings": {"beta_flags": "context-1m"}}, "beta_flags"),
    ],
)
def test_bad_bedrock_channels_are_refused(admin: AdminContext, extra: dict[str, Any], words: str) -> None:
    error = fail(admin, "channel.add", name="b", type="bedrock", models=["m"], **extra)
    assert error["code"] == "invalid_args" and words in error["message"]


def test_other_types_still_need_a_base_url(admin: AdminContext) -> None:
    error = fail(admin, "channel.add", name="o", type="openai", models=["m"], api_key="sk-x")
    assert error["code"] == "invalid_args" and "base_url" in error["message"]


def test_an_update_is_checked_too(admin: AdminContext) -> None:
    added = run(admin, "channel.add", name="b", type="bedrock", models=["m"])
    ok = run(admin, "channel.update", channel_id=added["channel_id"], settings={"role_arn": ROLE, "external_id": "xy"})
    assert ok["settings"]["role_arn"] == ROLE
    error = fail(admin, "channel.update", channel_id=added["channel_id"], settings={"region": "nowhere"})
    assert error["code"] == "invalid_args"
