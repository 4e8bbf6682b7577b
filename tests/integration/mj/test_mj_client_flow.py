"""The flow Midjourney clients run, over HTTP on loopback: imagine at /mj-fast/mj → poll fetch until
SUCCESS → U1 by customId → fetch → list-by-condition with numeric ids; charges equal the price table;
the image URL in each of the three modes."""

from __future__ import annotations

import httpx
import pytest
from tollway_local.mock.endpoints.mj import png

from tests.integration.mj.conftest import World

pytestmark = pytest.mark.integration

FAST_IMAGINE = 200_000  # $0.20, type 1 at fast
UPSCALE = 70_000  # $0.07, type 2 (U1-U4)


def test_imagine_poll_upscale_list_and_charges(world: World) -> None:
    stack = world.stack
    # chatgpt-web-midjourney-proxy's body and header (mj-api-secret), on the fast prefix.
    task_id = world.imagine("a lighthouse at dusk", prefix="/mj-fast/mj", notifyHook="", state="s-1",
                            botType="MID_JOURNEY", base64Array=[])  # fmt: skip
    done = world.wait(task_id, prefix="/mj-fast/mj")
    assert done["status"] == "SUCCESS" and done["progress"] == "100%"
    assert done["id"] == task_id and done["action"] == "IMAGINE" and done["state"] == "s-1"
    assert done["prompt"] == "a lighthouse at dusk"
    upstream_id = world.task(task_id)["upstream_id"]
    assert upstream_id != task_id and upstream_id not in str(done)  # no upstream id reaches the client
    assert set(done["properties"]) <= {"finalPrompt", "finalZhPrompt"}  # no notifyHook, nonce, instance
    assert "clientIp" not in done and "userId" not in done
    u1 = next(b["customId"] for b in done["buttons"] if b["label"] == "U1")

    # ChatGPT-Midjourney sends both headers and doubles /mj.
    answer = world.http.post(
        f"{stack.url}/mj/mj/submit/action",
        json={"taskId": task_id, "customId": u1},
        headers={"authorization": f"Bearer {world.who.key}", "mj-api-secret": world.who.key},
    ).json()
    assert answer["code"] == 1, answer
    child_id = str(answer["result"])
    child = world.wait(child_id)
    assert (child["status"], child["action"]) == ("SUCCESS", "UPSCALE")
    # The upstream got the button on the parent's upstream task, on the parent's channel.
    sent = world.submits_received()[-1]
    assert sent["path"].endswith("/mj/submit/action") and sent["body"]["taskId"] == upstream_id

    # Dooy's client sends list-by-condition ids as JSON numbers.
    listed = world.http.post(
        f"{stack.url}/mj/task/list-by-condition", json={"ids": [int(task_id), int(child_id)]}, headers=world.headers()
    )
    assert listed.status_code == 200
    assert sorted(t["id"] for t in listed.json()) == sorted([task_id, child_id])

    world.settle_down()
    assert stack.balance(world.who.account_id) == 1_000_000 - FAST_IMAGINE - UPSCALE
    imagine_record = world.record(task_id)
    upscale_record = world.record(child_id)
    assert (imagine_record["model"], imagine_record["charge"], imagine_record["status"]) == (
        "mj_fast_imagine",
        FAST_IMAGINE,
        "ok",
    )
    assert (upscale_record["model"], upscale_record["charge"]) == ("mj_upscale", UPSCALE)
    assert len(stack.records(world.who.account_id)) == 2  # fetches and lists write none
    assert stack.audit(world.who.account_id)["ok"]


def test_image_url_in_each_of_the_three_modes(world: World) -> None:
    stack = world.stack
    task_id = world.imagine("a red fox")
    world.wait(task_id)
    upstream_id = world.task(task_id)["upstream_id"]
    upstream_url = world.mock_task(task_id)["imageUrl"]
    assert upstream_url.startswith(world.mock.url)

    origin = world.fetch(task_id, prefix="/mj-origin/mj").json()["imageUrl"]
    assert origin == upstream_url

    stack.admin("mj.settings", image_proxy_base="https://img.proxy.example/cdn")
    try:
        proxied = world.fetch(task_id, prefix="/mj-fast-proxy/mj").json()["imageUrl"]
    finally:
        stack.admin("mj.settings", image_proxy_base="")
    assert proxied == f"https://img.proxy.example/cdn/mj/_mock/image/{upstream_id}.png"

    relayed = world.fetch(task_id, prefix="/mj-relay/mj").json()["imageUrl"]
    assert relayed.startswith(f"{stack.url}/mj/image/{task_id}?exp=") and "sig=" in relayed
    assert world.mock.url not in relayed
    # tollway serves its own copy (taken when the task finished), so it outlives the upstream's URL.
    world.mock.stop()
    image = httpx.get(relayed, timeout=30)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == png(upstream_id)
    # A link is signed for its own task and expiry only.
    forged = relayed.replace("sig=", "sig=0")
    assert httpx.get(forged, timeout=30).status_code == 403
    later = relayed.replace("exp=", "exp=9")
    assert httpx.get(later, timeout=30).status_code == 403
