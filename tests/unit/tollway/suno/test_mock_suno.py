"""The mock upstream's Suno side: submit → task id, every read moves a task one step, markers, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.endpoints.suno import script_of

H = {"authorization": "Bearer upstream-key"}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


def _submit(mock: MockServer, action: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{mock.url}/suno/submit/{action}", json=body, headers=H, timeout=10)


def _read(mock: MockServer, *ids: str) -> list[dict[str, Any]]:
    answer = httpx.post(f"{mock.url}/suno/fetch", json={"ids": list(ids)}, headers=H, timeout=10).json()
    assert answer["code"] == "success"
    data: list[dict[str, Any]] = answer["data"]
    return data


def test_markers() -> None:
    assert script_of("a song") == script_of("")
    marked = script_of("x [[suno:fail]] [[suno:steps=3]]")
    assert (marked.fail, marked.stuck, marked.steps, marked.reject) == (True, False, 3, None)
    assert script_of("MockFail").fail and script_of("[[suno:stuck]]").stuck
    assert script_of("[[suno:reject=503]]").reject == "503"


def test_music_moves_one_step_per_read_to_two_complete_clips(mock: MockServer) -> None:
    answer = _submit(mock, "MUSIC", {"prompt": "la la", "tags": "pop", "mv": "chirp-v3-5"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == "success" and body["message"] == ""
    task_id = body["data"]
    seen = [_read(mock, task_id)[0] for _ in range(4)]
    assert [t["status"] for t in seen] == ["SUBMITTED", "IN_PROGRESS", "SUCCESS", "SUCCESS"]
    assert [c["status"] for c in seen[1]["data"]] == ["streaming", "streaming"]
    done = seen[2]
    assert done["task_id"] == task_id and done["action"] == "MUSIC" and done["fail_reason"] == ""
    assert done["finish_time"] >= done["start_time"] >= done["submit_time"] > 1_600_000_000  # seconds
    first, second = done["data"]
    assert first["id"] != second["id"] and first["status"] == second["status"] == "complete"
    assert first["audio_url"].endswith(".mp3") and first["video_url"].endswith(".mp4") and first["image_url"]
    assert first["model_name"] == "chirp-v3-5" and first["metadata"]["duration"] == 120.0
    assert first["user_id"]  # the upstream account's identity, which a relay must filter
    assert _read(mock, task_id)[0]["status"] == "SUCCESS"  # a finished task stays finished
    one = httpx.get(f"{mock.url}/suno/fetch/{task_id}", headers=H, timeout=10).json()
    assert one["code"] == "success" and one["data"]["status"] == "SUCCESS"


def test_lyrics_failure_stuck_and_unknown_ids(mock: MockServer) -> None:
    lyrics = _submit(mock, "lyrics", {"prompt": "rain"}).json()["data"]
    failing = _submit(mock, "music", {"gpt_description_prompt": "sad [[suno:fail]]"}).json()["data"]
    stuck = _submit(mock, "music", {"prompt": "[[suno:stuck]]"}).json()["data"]
    for _ in range(5):
        found = {t["task_id"]: t for t in _read(mock, lyrics, failing, stuck, "nope")}
    assert set(found) == {lyrics, failing, stuck}
    assert found[lyrics]["status"] == "SUCCESS" and found[lyrics]["data"]["id"] == lyrics
    assert "rain" in found[lyrics]["data"]["text"]
    assert found[failing]["status"] == "FAILURE" and found[failing]["fail_reason"]
    assert {c["status"] for c in found[failing]["data"]} == {"error"}
    assert found[stuck]["status"] == "IN_PROGRESS"
    listed = httpx.get(f"{mock.url}/suno/_mock/tasks", headers=H, timeout=10).json()["tasks"]
    before = {t["task_id"]: t["reads"] for t in listed}
    assert before[stuck] == 5
    again = httpx.get(f"{mock.url}/suno/_mock/tasks", headers=H, timeout=10).json()["tasks"]
    assert {t["task_id"]: t["reads"] for t in again} == before  # the control reads nothing


def test_submit_errors(mock: MockServer) -> None:
    def error(action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = _submit(mock, action, body)
        return response.status_code, response.json()

    assert error("video", {}) == (400, {"code": "invalid_request", "message": "invalid action", "data": None})
    assert error("LYRICS", {"title": "x"})[1]["message"] == "prompt is empty"
    assert error("MUSIC", {"continue_clip_id": "c"})[1]["message"] == "task_id is empty"
    assert error("MUSIC", {"task_id": "not-mine", "continue_clip_id": "c"})[1]["message"] == "task_id not found"
    assert error("MUSIC", {"prompt": "[[suno:reject=503]]"})[0] == 503
    status, body = error("MUSIC", {"prompt": "[[suno:reject=insufficient_credits]]"})
    assert (status, body["code"], body["data"]) == (200, "insufficient_credits", None)
    assert httpx.post(f"{mock.url}/suno/submit/MUSIC", json={}, timeout=10).status_code == 401  # a key is needed
