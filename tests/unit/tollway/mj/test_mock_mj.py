"""The mock upstream's Midjourney side: its markers, its images, its protocol answers (in-process)."""

from __future__ import annotations

import struct
import zlib

import httpx
from tollway_local.mock import MockConfig, MockServer
from tollway_local.mock.endpoints.mj import png, script_of

H = {"authorization": "Bearer k"}


def test_markers() -> None:
    plain = script_of("a cat", 0.3)
    assert (plain.fail, plain.stuck, plain.steps, plain.step_s, plain.callbacks) == (False, False, 2, 0.3, "normal")
    marked = script_of("x [[mj:fail]] [[mj:steps=5]] [[mj:step_ms=40]] [[mj:callbacks=reverse]] [[mj:queue]]", 0)
    assert (marked.fail, marked.steps, marked.step_s, marked.callbacks, marked.queue) == (
        True,
        5,
        0.04,
        "reverse",
        True,
    )
    assert script_of("MockFail here", 0).fail
    assert script_of("[[mj:reject=24]] [[mj:stuck]]", 0).reject == 24
    assert script_of("[[mj:callbacks=sideways]] [[mj:steps=0]]", 0).callbacks == "normal"


def test_images_are_real_pngs() -> None:
    data = png("abc", size=8)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (8, 8)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_len])
    assert len(raw) == 8 * (1 + 3 * 8)
    assert png("abc", size=8) == data and png("abd", size=8) != data


def test_the_protocol_answers() -> None:
    with MockServer(MockConfig.fast()) as mock, httpx.Client(base_url=mock.url, headers=H, timeout=10) as http:
        assert http.post("/mj/submit/imagine", json={"prompt": ""}).json()["code"] == 4
        assert http.post("/mj/submit/imagine", json={"prompt": "no [[mj:reject=24]]"}).json()["code"] == 24
        answer = http.post("/mj-relax/mj/submit/imagine", json={"prompt": "a cat"}).json()
        assert answer["code"] == 1 and len(answer["result"]) == 16
        task_id = answer["result"]
        for _ in range(200):
            task = http.get(f"/mj/task/{task_id}/fetch").json()
            if task["status"] == "SUCCESS":
                break
        assert task["mode"] == "RELAX" and len(task["buttons"]) == 9 and task["properties"]["nonce"]
        image = http.get(task["imageUrl"].removeprefix(mock.url))
        assert image.headers["content-type"] == "image/png" and image.content == png(task_id)
        assert http.get("/mj/task/1/fetch").content == b""  # unknown: an empty 200, as the original proxy
        assert http.post("/mj/task/list-by-condition", json={"ids": [int(task_id), "2"]}).json()[0]["id"] == task_id
        assert http.get(f"/mj/task/{task_id}/image-seed").json()["code"] == 1
        missing = http.post("/mj/submit/action", json={"taskId": "1", "customId": "MJ::JOB::upsample::1::h"}).json()
        assert missing["code"] == 3
        u1 = task["buttons"][0]["customId"]
        child = http.post("/mj/submit/action", json={"taskId": task_id, "customId": u1}).json()
        assert child["code"] == 1
        urls = http.post("/mj/submit/upload-discord-images", json={"base64Array": ["a", "b"]}).json()["result"]
        assert len(urls) == 2
