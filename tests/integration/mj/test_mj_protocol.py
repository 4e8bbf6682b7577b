"""The compatibility checklist (midjourney-protocol.md §13): every path form and auth header clients
use, every endpoint, the result codes, and what the upstream is sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockConfig, MockServer

from tests.integration.mj.conftest import World, make_world
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

PNG = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    ("prefix", "model"),
    [
        ("/mj", "mj_fast_imagine"),
        ("/mj/mj", "mj_fast_imagine"),  # clients that append /mj to a base URL that has it
        ("/mj-fast/mj", "mj_fast_imagine"),
        ("/mj-relax/mj", "mj_relax_imagine"),
        ("/mj-turbo/mj", "mj_turbo_imagine"),
        ("/mj-turbo-relay/mj", "mj_turbo_imagine"),
        ("/mj-relax-origin/mj", "mj_relax_imagine"),
        ("/mj-origin-relax/mj", "mj_relax_imagine"),  # either token order
        ("/mj-proxy/mj", "mj_fast_imagine"),
        ("/mj-turbo/mj/mj", "mj_turbo_imagine"),
    ],
)
def test_every_path_form_reaches_the_api(world: World, prefix: str, model: str) -> None:
    task_id = world.imagine("a lantern", prefix=prefix)
    assert world.wait(task_id, prefix=prefix)["status"] == "SUCCESS"
    world.settle_down()
    assert world.record(task_id)["model"] == model


def test_an_unknown_prefix_is_not_a_route(world: World) -> None:
    response = world.http.post(
        f"{world.stack.url}/mj-slow/mj/submit/imagine", json={"prompt": "x"}, headers=world.headers()
    )
    assert response.status_code == 404
    assert world.submits_received() == []


def test_every_auth_header_form_clients_send(world: World) -> None:
    task_id = world.imagine("a lantern")
    key = world.who.key
    forms = [
        {"mj-api-secret": key},
        {"authorization": f"Bearer {key}"},
        {"authorization": f"Bearer {key.removeprefix('sk-')}"},  # new-api strips sk-
        {"authorization": key},  # a raw Authorization value
        {"authorization": "midjourney-proxy", "mj-api-secret": key},
        {"authorization": "", "mj-api-secret": f"Bearer {key}"},
        {"authorization": f"Bearer {key}-7"},  # new-api's channel pinning suffix: accepted, ignored
        {"authorization": f"Bearer {key}", "mj-api-secret": key},  # ChatGPT-Midjourney sends both
    ]
    for headers in forms:
        response = world.http.get(f"{world.stack.url}/mj/task/{task_id}/fetch", headers=headers)
        assert response.status_code == 200, headers
        assert response.json()["id"] == task_id


def _done(world: World, answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["code"] == 1, answer
    return world.wait(str(answer["result"]))


def test_change_simple_change_and_reroll_press_the_parents_buttons(world: World) -> None:
    parent = world.imagine("a mountain")
    world.wait(parent)
    upstream_parent = world.task(parent)["upstream_id"]

    upscale = _done(world, world.submit("change", {"taskId": parent, "action": "UPSCALE", "index": 2}))
    sent = world.submits_received()[-1]
    assert sent["path"].endswith("/submit/action") and "::upsample::2::" in sent["body"]["customId"]
    assert sent["body"]["taskId"] == upstream_parent
    assert upscale["action"] == "UPSCALE" and upscale["description"] == "/upscale a mountain --fast"

    variation = _done(world, world.submit("simple-change", {"content": f"{parent} V1"}))
    assert "::variation::1::" in world.submits_received()[-1]["body"]["customId"]
    assert variation["action"] == "VARIATION"
    reroll = _done(world, world.submit("change", {"taskId": parent, "action": "REROLL", "index": 1}))
    assert "::reroll::0::" in world.submits_received()[-1]["body"]["customId"]
    assert reroll["action"] == "REROLL"

    assert world.submit("change", {"taskId": parent, "action": "UPSCALE", "index": 5})["code"] == 4
    assert world.submit("simple-change", {"content": f"{parent} X9"})["code"] == 4
    world.settle_down()
    charges = sorted(r["charge"] for r in world.stack.records(world.who.account_id) if r["status"] == "ok")
    assert charges == [70_000, 200_000, 200_000, 200_000]  # U2 is type 2; imagine, V1, reroll type 1 at fast


def test_the_modal_flow_charges_the_action_and_not_the_modal(world: World) -> None:
    parent = world.imagine("a valley")
    grid = world.wait(parent)
    u1 = next(b["customId"] for b in grid["buttons"] if b["label"] == "U1")
    upscaled = _done(world, world.submit("action", {"taskId": parent, "customId": u1}))
    zoom = next(b["customId"] for b in upscaled["buttons"] if b["customId"].startswith("MJ::CustomZoom::"))

    opened = world.submit("action", {"taskId": upscaled["id"], "customId": zoom})
    assert opened["code"] == 21 and opened["description"] == "Waiting for window confirm"
    assert opened["properties"]["remix"] is True
    zoom_id = str(opened["result"])
    assert world.fetch(zoom_id).json()["status"] == "MODAL"

    confirmed = world.submit("modal", {"taskId": zoom_id, "prompt": "a valley --zoom 1.5"})
    assert confirmed["code"] == 1 and str(confirmed["result"]) == zoom_id  # the same task continues
    assert world.wait(zoom_id)["status"] == "SUCCESS"
    assert world.submit("modal", {"taskId": zoom_id})["code"] == 4  # not waiting for a modal any more
    world.settle_down()
    records = world.stack.records(world.who.account_id)
    by_endpoint = {r["endpoint"]: r for r in records if r["status"] == "ok"}
    assert by_endpoint["mj.modal"]["charge"] == 0 and by_endpoint["mj.modal"]["task_id"] == zoom_id
    (zoom_record,) = [r for r in records if r.get("task_id") == zoom_id and r["endpoint"] == "mj.action"]
    assert (zoom_record["model"], zoom_record["charge"]) == ("mj_fast_zoom", 200_000)
    assert world.stack.balance(world.who.account_id) == 1_000_000 - 200_000 - 70_000 - 200_000
    assert world.stack.audit(world.who.account_id)["ok"]


def test_describe_blend_shorten_swap_video_edits_upload_and_seed(world: World) -> None:
    expected = {
        "describe": ({"base64": PNG}, "mj_describe", 70_000),
        "blend": ({"base64Array": [PNG, PNG], "dimensions": "SQUARE"}, "mj_fast_blend", 200_000),
        "shorten": ({"prompt": "a very long prompt about a castle"}, "mj_shorten", 70_000),
        "video": ({"prompt": "a castle", "image": PNG}, "mj_fast_video", 1_600_000),
        "edits": ({"prompt": "a castle", "image": PNG}, "mj_fast_edits", 200_000),
    }
    world.stack.admin("account.credit", account_id=world.who.account_id, amount_usd="5.00", reason="test")
    for route, (body, model, charge) in expected.items():
        task = _done(world, world.submit(route, body))
        world.settle_down()
        assert (world.record(task["id"])["model"], world.record(task["id"])["charge"]) == (model, charge), route
    describe = [t for t in world.mock_tasks().values() if t["action"] == "DESCRIBE"]
    assert describe and describe[0]["properties"]["finalPrompt"].startswith("1️⃣")
    swap = world.http.post(
        f"{world.stack.url}/mj/insight-face/swap",
        json={"sourceBase64": PNG, "targetBase64": PNG},
        headers=world.headers(),
    ).json()
    assert _done(world, swap)["action"] == "SWAP_FACE"

    upload = world.submit("upload-discord-images", {"base64Array": [PNG, PNG]})
    assert upload["code"] == 1 and isinstance(upload["result"], list) and len(upload["result"]) == 2

    first = next(iter(world.mock_tasks().values()))
    mine = [r["task_id"] for r in world.stack.records(world.who.account_id) if r.get("task_id")]
    seeded = next(t for t in mine if world.task(t)["upstream_id"] == first["id"])
    seed = world.http.get(f"{world.stack.url}/mj/task/{seeded}/image-seed", headers=world.headers()).json()
    assert seed["code"] == 1 and seed["result"].isdigit()
    world.settle_down()
    assert world.stack.audit(world.who.account_id)["ok"]


def test_queued_submits_keep_code_22(world: World) -> None:
    answer = world.submit("imagine", {"prompt": "a queue [[mj:queue]]"})
    assert answer["code"] == 22 and answer["properties"]["numberOfQueues"] == 1
    assert world.wait(str(answer["result"]))["status"] == "SUCCESS"


def test_bad_requests_are_code_4_envelopes_and_cost_nothing(world: World) -> None:
    stack = world.stack
    stuck = world.imagine("a stuck one [[mj:stuck]]")
    cases: list[tuple[str, Any]] = [
        ("imagine", {"prompt": "   "}),
        ("imagine", {"prompt": 5}),
        ("blend", {"base64Array": [PNG]}),
        ("action", {"taskId": stuck, "customId": "MJ::BOOKMARK::x"}),
        ("action", {"taskId": stuck, "customId": "MJ::JOB::upsample::1::h"}),  # the parent has not finished
        ("describe", {}),
        ("imagine", ["not", "an", "object"]),
    ]
    for route, body in cases:
        answer = world.submit(route, body)
        assert answer["code"] == 4 and answer["result"] is None, (route, body, answer)
    broken = world.http.post(f"{stack.url}/mj/submit/imagine", content=b"{nope", headers=world.headers())
    assert broken.status_code == 200 and broken.json()["code"] == 4
    assert len(world.submits_received()) == 1  # only the stuck one ever went upstream
    listed = world.http.post(f"{stack.url}/mj/task/list-by-condition", json={"ids": "x"}, headers=world.headers())
    assert listed.status_code == 400
    world.settle_down()
    assert stack.balance(world.who.account_id) == 1_000_000 - 200_000


@pytest.fixture
def mode_path_world(mj_stack: LocalStack) -> Iterator[World]:
    with MockServer(MockConfig.fast()) as mock:
        made = make_world(mj_stack, mock, mode_path=True, mode_flags=False, mode_filter=True)
        try:
            yield made
        finally:
            made.http.close()
            mj_stack.admin_envelope("channel.remove", channel_id=made.channel_id)


def test_a_channel_can_take_the_mode_in_its_path_and_account_filter(mode_path_world: World) -> None:
    world = mode_path_world
    world.imagine("a reef --fast", prefix="/mj-relax/mj")
    sent = world.submits_received()[-1]
    assert sent["path"] == "/mj-relax/mj/submit/imagine"
    assert sent["body"]["prompt"] == "a reef --fast"  # mode_flags off: the prompt is left as written
    assert sent["body"]["accountFilter"] == {"modes": ["RELAX"]}
    assert sent["headers"]["mj-api-secret"] == "mj-upstream-key"


def test_an_unreachable_upstream_is_code_9_and_costs_nothing(mj_stack: LocalStack) -> None:
    with MockServer(MockConfig.fast()) as mock:
        url = mock.url  # a port nothing listens on once the mock has stopped
    group = "mj-gone"
    mj_stack.admin("group.set", name=group)
    channel = mj_stack.admin("mj.add-channel", name="gone", base_url=url, groups=[group], api_key="k")
    who = mj_stack.customer(group=group)
    try:
        answer = httpx.post(
            f"{mj_stack.url}/mj/submit/imagine", json={"prompt": "x"}, headers={"mj-api-secret": who.key}, timeout=60
        ).json()
        assert answer["code"] == 9 and answer["result"] is None
        (record,) = mj_stack.records(who.account_id)
        assert (record["status"], record["error_code"], record["charge"]) == ("error", "upstream_unavailable", 0)
        assert mj_stack.balance(who.account_id) == 1_000_000
        assert not mj_stack.open_holds(who.account_id)
    finally:
        mj_stack.admin_envelope("channel.remove", channel_id=channel["channel_id"])
