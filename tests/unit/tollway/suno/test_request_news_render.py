"""The Suno protocol's pure parts: the submit body (only §10's keys, types, defaults, refusals), an
upstream task read as a state update (status mapping, failure rule, filtered data), and the TaskDto."""

from __future__ import annotations

from typing import Any

import pytest
from tollway.errors import InvalidRequest
from tollway.mj.model import ImageMode, Phase, StateUpdate, Task, TaskStatus
from tollway.suno.model import SunoAction, action_of, is_task_id, mint_task_id
from tollway.suno.news import state_of
from tollway.suno.render import error, render_task, success
from tollway.suno.request import FORWARDED_KEYS, parse_submit

from tests.support.factories import accepted_task


def test_actions_and_ids() -> None:
    assert action_of("music") is SunoAction.MUSIC and action_of(" Lyrics ") is SunoAction.LYRICS
    assert action_of("video") is None and action_of("") is None
    minted = {mint_task_id() for _ in range(50)}
    assert len(minted) == 50 and all(is_task_id(i) for i in minted)
    assert not any(i.isdigit() for i in minted)  # never mistaken for a Midjourney id
    assert not is_task_id("1730000000000123") and not is_task_id("task_XYZ")


def test_only_the_protocols_keys_reach_the_upstream() -> None:
    body = {
        "prompt": "[Verse] hello",
        "title": "Hi",
        "tags": "pop",
        "continue_at": 12.5,
        "notify_hook": "https://evil.example/hook",  # not in new-api's struct: dropped
        "negative_tags": "metal",
        "mv": "",  # empty: left out, then defaulted
        "gpt_description_prompt": None,
    }
    parsed = parse_submit("MUSIC", body)
    assert parsed.body == {
        "prompt": "[Verse] hello",
        "title": "Hi",
        "tags": "pop",
        "continue_at": 12.5,
        "make_instrumental": False,  # always sent
        "mv": "chirp-v3-0",  # MUSIC's default model
    }
    assert set(parsed.body) <= set(FORWARDED_KEYS)
    assert (parsed.action, parsed.prompt, parsed.origin_task_id) == (SunoAction.MUSIC, "[Verse] hello", None)
    inspired = parse_submit("music", {"gpt_description_prompt": "a song about rain", "make_instrumental": True})
    assert inspired.prompt == "a song about rain" and inspired.body["make_instrumental"] is True
    lyrics = parse_submit("lyrics", {"prompt": "rain"})
    assert lyrics.body == {"prompt": "rain", "make_instrumental": False}  # no mv default for LYRICS


def _refusal(action: str, body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_submit(action, body)
    return caught.value


def test_refusals_use_new_apis_wire_shape() -> None:
    # The wire shape (code invalid_request, HTTP 400) is relay.suno.errors'; the record keeps ``code``.
    empty = _refusal("LYRICS", {"title": "x"})
    assert (empty.message, empty.status, empty.code) == ("prompt_empty", 400, "prompt_empty")
    assert _refusal("lyrics", {"prompt": ""}).message == "prompt_empty"
    invalid = _refusal("video", {"prompt": "x"})
    assert (invalid.message, invalid.code, invalid.status) == ("invalid_action", "invalid_action", 400)
    assert _refusal("music", {"prompt": 5}).code == "invalid_request"
    assert _refusal("music", ["not", "an", "object"]).message == "the body must be a JSON object"
    assert _refusal("music", {"prompt": 5}).message == "prompt must be a string"
    assert _refusal("music", {"continue_at": "10"}).message.startswith("continue_at")
    assert _refusal("music", {"continue_at": True}).message.startswith("continue_at")
    assert _refusal("music", {"make_instrumental": "yes"}).message.startswith("make_instrumental")
    assert _refusal("music", {"continue_clip_id": "clip-1"}).message == "task id is empty"
    assert _refusal("music", {"title": "x" * 1001}).message.startswith("title is longer")


def test_a_continuation_names_its_origin() -> None:
    parsed = parse_submit(
        "music", {"prompt": "more", "task_id": "task_abc", "continue_clip_id": "c1", "continue_at": 30}
    )
    assert parsed.origin_task_id == "task_abc"
    assert parsed.body["continue_clip_id"] == "c1" and parsed.body["continue_at"] == 30


def _clip(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"clip-{status}",
        "status": status,
        "audio_url": "https://cdn.example/a.mp3",
        "user_id": "upstream-account",
        "display_name": "Upstream Account",
        "handle": "upstream_handle",
        "metadata": {"tags": "pop", "duration": 120.0},
        **extra,
    }


def test_upstream_statuses_map_onto_the_forward_only_order() -> None:
    def update(**raw: Any) -> StateUpdate | None:
        return state_of({"task_id": "up-1", "action": "MUSIC", **raw})

    submitted, queued = update(status="SUBMITTED"), update(status="QUEUED")
    assert submitted is not None and queued is not None
    assert submitted.rank == queued.rank and queued.view["status"] == "QUEUED"
    half = update(status="IN_PROGRESS", data=[_clip("streaming"), _clip("complete")])
    start = update(status="IN_PROGRESS", data=[_clip("streaming"), _clip("streaming")])
    assert half is not None and start is not None
    assert (start.progress, half.progress) == ("50%", "75%")
    assert submitted.rank < start.rank < half.rank  # a clip finishing moves the task forward
    done = update(status="SUCCESS", data=[_clip("complete"), _clip("complete")], finish_time=1_700_000_100)
    assert done is not None and (done.status, done.progress) == (TaskStatus.SUCCESS, "100%")
    assert done.view["finish_time"] == 1_700_000_100 and done.rank > half.rank
    assert update(status="UNKNOWN") is None and update(status="weird") is None and state_of("nope") is None


def test_a_fail_reason_fails_an_unfinished_task_and_the_data_is_filtered() -> None:
    failed = state_of({"task_id": "u", "status": "IN_PROGRESS", "fail_reason": "moderation", "data": [_clip("error")]})
    assert failed is not None and (failed.status, failed.progress) == (TaskStatus.FAILURE, "100%")
    assert failed.view["status"] == "FAILURE" and failed.view["fail_reason"] == "moderation"
    (clip,) = failed.view["data"]
    assert "user_id" not in clip and "display_name" not in clip and "handle" not in clip
    assert clip["audio_url"] == "https://cdn.example/a.mp3" and clip["metadata"]["duration"] == 120.0
    # A success keeps its result whatever its fail_reason says.
    ok = state_of({"task_id": "u", "status": "SUCCESS", "fail_reason": "odd", "data": [_clip("complete")]})
    assert ok is not None and ok.status is TaskStatus.SUCCESS


def test_the_channel_key_never_enters_a_view() -> None:
    raw = {"task_id": "u", "status": "FAILURE", "fail_reason": "bad key sk-up-secret-123", "data": []}
    update = state_of(raw, secret="sk-up-secret-123")
    assert update is not None and "sk-up-secret-123" not in str(update.view)


def _task(**changes: Any) -> Task:
    base = accepted_task(
        task_id="task_" + "a" * 32,
        action="LYRICS",
        price_key="suno_lyrics",
        image_mode=ImageMode.ORIGIN,
        price=10_000,
        created_at=1_700_000_000_123,
        upstream_id="up-uuid-1",
        kind="suno",
    )
    return base.replace(**changes)


def test_the_task_dto_carries_tollways_id_and_seconds() -> None:
    view = {
        "status": "SUCCESS",
        "start_time": 1_700_000_010,
        "finish_time": 1_700_000_020,
        "data": {"id": "up-uuid-1", "status": "complete", "title": "t", "text": "la", "url": "https://x/up-uuid-1"},
    }
    dto = render_task(_task(status=TaskStatus.SUCCESS, progress="100%", view=view))
    assert dto == {
        "task_id": "task_" + "a" * 32,
        "action": "LYRICS",
        "status": "SUCCESS",
        "fail_reason": "",
        "submit_time": 1_700_000_000,
        "start_time": 1_700_000_010,
        "finish_time": 1_700_000_020,
        "progress": "100%",
        # the upstream id is replaced where it *is* a value; a URL that contains it keeps working
        "data": {
            "id": "task_" + "a" * 32,
            "status": "complete",
            "title": "t",
            "text": "la",
            "url": "https://x/up-uuid-1",
        },
    }
    queued = render_task(_task(status=TaskStatus.SUBMITTED, view={"status": "QUEUED"}))
    assert (queued["status"], queued["progress"], queued["data"]) == ("QUEUED", "0%", None)
    assert render_task(_task(phase=Phase.PENDING))["status"] == "NOT_START"


def test_tollways_own_failures_render_in_suno_terms() -> None:
    # The shared engine writes a timeout MJ-style (failReason, finishTime in ms).
    timed_out = _task(
        status=TaskStatus.FAILURE,
        progress="50%",
        view={
            "status": "IN_PROGRESS",
            "failReason": "task timed out: no result within 3600 s",
            "finishTime": 1_700_003_600_456,
        },
    )
    dto = render_task(timed_out)
    assert (dto["status"], dto["progress"], dto["finish_time"]) == ("FAILURE", "100%", 1_700_003_600)
    assert dto["fail_reason"].startswith("task timed out")


def test_envelopes() -> None:
    assert success("task_x") == {"code": "success", "message": "", "data": "task_x"}
    assert error("quota_not_enough", "no money") == {"code": "quota_not_enough", "message": "no money", "data": None}
