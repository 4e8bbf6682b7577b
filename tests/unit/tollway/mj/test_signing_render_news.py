"""Signatures (callback capability, image links, webhook HMAC), the task JSON clients read, and how an
upstream task is read as news."""

from __future__ import annotations

from typing import Any

import pytest
from tollway.mj.model import ImageMode, Phase, Task, TaskStatus
from tollway.mj.news import state_of
from tollway.mj.render import ImageLinks, render_task, rewrite_host
from tollway.mj.signing import SigningKeys, sign_payload, verify_payload

from tests.support.factories import accepted_task

KEYS = SigningKeys(lambda: "master-secret")


def test_derived_signatures_are_bound_to_their_purpose_and_subject() -> None:
    assert KEYS.verify_callback("1730000000000123", KEYS.callback_signature("1730000000000123"))
    assert not KEYS.verify_callback("1730000000000124", KEYS.callback_signature("1730000000000123"))
    assert not KEYS.verify_callback("1730000000000123", "")
    other = SigningKeys(lambda: "another-master")
    assert other.callback_signature("1") != KEYS.callback_signature("1")
    assert KEYS.verify_image("1", 100, KEYS.image_signature("1", 100))
    assert not KEYS.verify_image("1", 101, KEYS.image_signature("1", 100))
    assert KEYS.image_signature("1", 100) not in KEYS.callback_signature("1")
    assert KEYS.hook_secret("acct_a") != KEYS.hook_secret("acct_b")
    assert KEYS.hook_secret("acct_a").startswith("whsec_") and KEYS.hook_secret("acct_a") == KEYS.hook_secret("acct_a")


def test_the_master_secret_is_read_once() -> None:
    calls: list[int] = []

    def master() -> str:
        calls.append(1)
        return "m"

    keys = SigningKeys(master)
    keys.callback_signature("1")
    keys.hook_secret("a")
    assert calls == [1]


def test_webhook_signatures() -> None:
    body = b'{"id":"1"}'
    header = sign_payload("whsec_x", body, 1_000)
    assert verify_payload("whsec_x", body, header, now_s=1_000)
    assert verify_payload("whsec_x", body, header, now_s=1_299)
    assert not verify_payload("whsec_x", body, header, now_s=1_301)  # too old
    assert not verify_payload("whsec_x", body, header, now_s=699)  # from the future
    assert not verify_payload("whsec_y", body, header, now_s=1_000)
    assert not verify_payload("whsec_x", body + b" ", header, now_s=1_000)
    rotated = sign_payload("whsec_old", body, 1_000) + "," + header.split(",")[1]
    assert verify_payload("whsec_x", body, rotated, now_s=1_000)  # any v1 may match (secret rotation)
    for broken in ("", "t=abc,v1=00", "v1=00", "t=1000,t=1000," + header.split(",")[1]):
        assert not verify_payload("whsec_x", body, broken, now_s=1_000)


def _task(**changes: Any) -> Task:
    base = accepted_task(
        task_id="1730000000000123",
        action="UPSCALE",
        price_key="mj_upscale",
        image_mode=ImageMode.RELAY,
        price=70_000,
        upstream_id="9990000000000001",
        parent_id="1730000000000100",
        parent_upstream_id="9990000000000000",
        status=TaskStatus.SUCCESS,
        progress="100%",
        prompt="a cat",
        state="mine",
        view={
            "description": "/up 9990000000000000 U1",
            "imageUrl": "https://cdn.discordapp.com/attachments/1/2/a.png?ex=1&hm=2",
            "properties": {"finalPrompt": "a cat"},
            "buttons": [{"customId": "MJ::JOB::variation::1::h", "label": "V1"}],
            "startTime": 5,
            "finishTime": 9,
        },
    )
    return base.replace(**changes)


def _links(proxy: str | None = None, base: str | None = "https://relay.example/live") -> ImageLinks:
    return ImageLinks(base=base, keys=KEYS, ttl_s=86400, now_s=1_800_000_100, proxy_base=proxy)


def test_the_task_json_hides_the_upstream() -> None:
    out = render_task(_task(), ImageMode.ORIGIN, _links())
    assert out["id"] == "1730000000000123" and out["description"] == "/up 1730000000000100 U1"
    assert "999000000000000" not in str(out)
    assert out["properties"] == {"finalPrompt": "a cat"} and out["state"] == "mine"
    assert (out["submitTime"], out["startTime"], out["finishTime"]) == (1_730_000_000_000, 5, 9)
    assert set(out) >= {
        "id", "action", "customId", "botType", "maskBase64", "prompt", "promptEn", "description", "state",
        "submitTime", "startTime", "finishTime", "imageUrl", "videoUrl", "videoUrls", "status", "progress",
        "failReason", "buttons", "properties",
    }  # fmt: skip
    assert render_task(_task(phase=Phase.PENDING), ImageMode.ORIGIN, _links())["status"] == "NOT_START"
    assert render_task(_task(view={}), ImageMode.RELAY, _links())["description"] == "Submit success"


def test_image_urls_follow_the_image_mode() -> None:
    task = _task()
    assert render_task(task, ImageMode.ORIGIN, _links())["imageUrl"] == task.view["imageUrl"]
    proxied = render_task(task, ImageMode.PROXY, _links(proxy="https://img.example/p/"))["imageUrl"]
    assert proxied == "https://img.example/p/attachments/1/2/a.png?ex=1&hm=2"
    relay = render_task(task, ImageMode.RELAY, _links())["imageUrl"]
    assert relay.startswith("https://relay.example/live/mj/image/1730000000000123?exp=1800090000&sig=")
    assert render_task(task, ImageMode.RELAY, _links())["imageUrl"] == relay  # stable within the hour
    preview = render_task(task.replace(status=TaskStatus.IN_PROGRESS, rank=3050), ImageMode.RELAY, _links())
    assert preview["imageUrl"].endswith("&v=3050")
    assert render_task(task.replace(view={}), ImageMode.RELAY, _links())["imageUrl"] == ""
    assert rewrite_host("not a url", "https://x") == "not a url"


def test_upstream_tasks_as_news() -> None:
    raw = {
        "id": "9",
        "status": "IN_PROGRESS",
        "progress": "40%",
        "imageUrl": "https://cdn/x.png",
        "clientIp": "10.0.0.1",
        "userId": "u",
        "properties": {"finalPrompt": "p", "notifyHook": "https://tollway/cb?sig=s", "nonce": "n"},
    }
    update = state_of(raw)
    assert update is not None and update.status is TaskStatus.IN_PROGRESS and update.progress == "40%"
    assert update.view == {"imageUrl": "https://cdn/x.png", "properties": {"finalPrompt": "p"}}
    failed = state_of({**raw, "failReason": "[Invalid parameter] bad"})
    assert failed is not None and failed.status is TaskStatus.FAILURE  # unfinished with a failReason
    success = state_of({**raw, "status": "SUCCESS", "progress": ""})
    assert success is not None and success.progress == "100%"
    assert state_of({"status": "WEIRD"}) is None
    assert state_of(None) is None and state_of([raw]) is None
    assert state_of({"id": "9"}) is not None  # no status yet: NOT_START


@pytest.mark.parametrize("empty", [None, "", []])
def test_empty_upstream_fields_are_dropped(empty: object) -> None:
    update = state_of({"status": "SUBMITTED", "imageUrl": empty, "buttons": empty})
    assert update is not None and update.view == {}
