"""The flow Suno clients run, over HTTP on loopback against the real stack: submit music → poll
``GET /suno/fetch/<id>`` until SUCCESS → ``POST /suno/fetch`` with ids; submit lyrics; charges equal the
price table; only the protocol's keys reach the upstream; no upstream id, account or key reaches the
client."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.suno.conftest import UPSTREAM_KEY, World
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

MUSIC = 100_000  # $0.10, suno_music
LYRICS = 10_000  # $0.01, suno_lyrics


def test_music_and_lyrics_submit_poll_list_and_charges(world: World) -> None:
    stack = world.stack
    body = {
        "prompt": "[Verse] neon rain on the river",
        "tags": "synthwave",
        "title": "Neon River",
        "make_instrumental": False,
        "notify_hook": "https://hooks.example/suno",  # not a protocol key: dropped, as new-api does
        "negative_tags": "metal",
    }
    music_id = world.submit("music", body)
    assert music_id.startswith("task_")

    # The upstream got the protocol's keys only, with the channel key as a bearer token.
    (sent,) = world.submits_received()
    assert sent["path"].endswith("/suno/submit/MUSIC")
    assert sent["body"] == {
        "prompt": body["prompt"],
        "tags": "synthwave",
        "title": "Neon River",
        "make_instrumental": False,
        "mv": "chirp-v3-0",
    }
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"

    # Poll as clients do: each fetch refreshes the task from the upstream until it has finished.
    statuses = []
    while True:
        answer = world.fetch(music_id).json()
        assert answer["code"] == "success"
        task = answer["data"]
        statuses.append(task["status"])
        if task["status"] in ("SUCCESS", "FAILURE") or len(statuses) > 10:
            break
    assert statuses == ["SUBMITTED", "IN_PROGRESS", "SUCCESS"]
    assert (task["task_id"], task["action"], task["progress"], task["fail_reason"]) == (
        music_id,
        "MUSIC",
        "100%",
        "",
    )
    assert task["finish_time"] >= task["start_time"] >= task["submit_time"] > 1_600_000_000  # seconds
    clips = task["data"]
    assert len(clips) == 2 and {c["status"] for c in clips} == {"complete"}
    for clip in clips:
        assert clip["audio_url"].endswith(".mp3") and clip["video_url"] and clip["image_url"]
        assert clip["metadata"]["tags"] == "synthwave" and clip["metadata"]["duration"] > 0
        assert not {"user_id", "display_name", "handle"} & set(clip)  # the upstream account stays private

    # Lyrics, with the key in mj-api-secret (chatgpt-web-midjourney-proxy's header).
    lyrics_id = world.submit("lyrics", {"prompt": "rain on a tin roof"}, mj_secret=True)
    done = {t["task_id"]: t for t in world.fetch_many([music_id, lyrics_id, "task_" + "0" * 32])}
    for _ in range(5):
        if done[lyrics_id]["status"] == "SUCCESS":
            break
        done = {t["task_id"]: t for t in world.fetch_many([music_id, lyrics_id])}
    assert set(done) == {music_id, lyrics_id}
    lyrics = done[lyrics_id]
    assert (lyrics["status"], lyrics["action"]) == ("SUCCESS", "LYRICS")
    assert lyrics["data"]["id"] == lyrics_id and "rain on a tin roof" in lyrics["data"]["text"]
    assert done[music_id] == task

    # Nothing upstream-specific reached the client.
    upstream_ids = {world.task(music_id)["upstream_id"], world.task(lyrics_id)["upstream_id"]}
    seen = json.dumps([task, lyrics, done])
    assert not any(u in seen for u in upstream_ids) and UPSTREAM_KEY not in seen
    assert set(world.mock_tasks()) == upstream_ids

    # Charges equal the prices; one record per submit carrying its task id; fetches write none.
    world.settle_down()
    assert stack.balance(world.who.account_id) == 1_000_000 - MUSIC - LYRICS
    music_record, lyrics_record = world.record(music_id), world.record(lyrics_id)
    assert (music_record["model"], music_record["charge"], music_record["status"], music_record["endpoint"]) == (
        "suno_music",
        MUSIC,
        "ok",
        "suno.music",
    )
    assert (lyrics_record["model"], lyrics_record["charge"]) == ("suno_lyrics", LYRICS)
    assert len(stack.records(world.who.account_id)) == 2
    # A finished task is never refunded, however often it is polled again.
    stack.admin("mj.sweep")
    world.fetch(music_id)
    world.settle_down()
    assert stack.balance(world.who.account_id) == 1_000_000 - MUSIC - LYRICS and not world.refunds()
    assert stack.audit(world.who.account_id)["ok"]


def test_the_demo_key_reaches_the_built_in_mock_suno_channel(suno_stack: LocalStack) -> None:
    headers = {"mj-api-secret": suno_stack.demo_key}
    with httpx.Client(timeout=30) as http:
        answer = http.post(f"{suno_stack.url}/suno/submit/LYRICS", json={"prompt": "hello"}, headers=headers).json()
        assert answer["code"] == "success", answer
        task_id = answer["data"]
        for _ in range(5):
            task = http.get(f"{suno_stack.url}/suno/fetch/{task_id}", headers=headers).json()["data"]
            if task["status"] == "SUCCESS":
                break
    assert task["status"] == "SUCCESS" and "hello" in task["data"]["text"]
    assert suno_stack.admin("suno.task", task_id=task_id)["channel_id"] == "suno"
