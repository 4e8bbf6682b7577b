"""The /suno routes on the relay app in this process (memory stores, mock upstreams on loopback): how a
continuation is routed, how upstream refusals and outages release the hold, failover, key limits, the
route and body errors. The client flow and the money tests against the real stack are in
tests/integration/suno."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tollway.mj.runtime import runtime_for
from tollway.suno.runtime import suno_runtime_for
from tollway_local.mock import MockConfig, MockServer

from tests.support.relay_server import InProcessRelay, relay_server


@pytest.fixture(scope="module")
def relay() -> Iterator[InProcessRelay]:
    with relay_server(mj_refresh_after_s=0) as server:
        yield server
        # The process-wide runtimes keep upstream connections open; close them with the relay.
        suno_runtime_for(server.services).close()
        runtime_for(server.services).close()


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@dataclass
class Who:
    relay: InProcessRelay
    account_id: str
    key: str
    group: str

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key or self.key}"}
        return httpx.post(f"{self.relay.url}{path}", json=body, headers=headers, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.relay.url}{path}", headers={"authorization": f"Bearer {self.key}"}, timeout=30)

    def balance(self) -> int:
        return int(self.relay.admin("account.get", account_id=self.account_id)["balance"])

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.relay.admin("usage.query", account_id=self.account_id)["records"]
        return found

    def audit_ok(self) -> bool:
        return bool(self.relay.admin("audit.run", account_id=self.account_id)["ok"])

    def channel(self, base_url: str, **args: Any) -> str:
        added = self.relay.admin("suno.add-channel", name="suno", base_url=base_url, api_key="up-key",
                                 groups=[self.group], **args)  # fmt: skip
        return str(added["channel_id"])


_groups = iter(range(1_000_000))


def who(relay: InProcessRelay, credit_usd: str = "1.00", **key_args: Any) -> Who:
    group = f"suno-{next(_groups)}"
    relay.admin("group.set", name=group)
    account = relay.admin("account.create", name="suno test", group=group, credit_usd=credit_usd)
    key = relay.admin("key.create", account_id=account["account_id"], **key_args)
    return Who(relay, account["account_id"], key["key"], group)


def _submits(mock: MockServer) -> list[dict[str, Any]]:
    return [e for e in mock.stats()["requests_log"] if "/suno/submit/" in e["path"]]


def _finish(customer: Who, task_id: str) -> dict[str, Any]:
    for _ in range(10):
        task: dict[str, Any] = customer.get(f"/suno/fetch/{task_id}").json()["data"]
        if task["status"] in ("SUCCESS", "FAILURE"):
            return task
    raise AssertionError(f"{task_id} never finished")


def test_a_continuation_goes_to_its_origins_channel_with_the_upstreams_id(relay: InProcessRelay) -> None:
    customer = who(relay)
    with MockServer(MockConfig.fast()) as first, MockServer(MockConfig.fast()) as second:
        customer.channel(first.url)
        origin = customer.post("/suno/submit/music", {"prompt": "verse one"}).json()["data"]
        clip = _finish(customer, origin)["data"][0]["id"]
        customer.channel(second.url, priority=10)  # new submits now prefer the second upstream
        body = {"prompt": "verse two", "task_id": origin, "continue_clip_id": clip, "continue_at": 60}
        answer = customer.post("/suno/submit/music", body)
        assert answer.status_code == 200 and answer.json()["code"] == "success", answer.text
        (sent,) = _submits(first)[1:]
        upstream_origin = relay.admin("suno.task", task_id=origin)["upstream_id"]
        assert sent["body"]["task_id"] == upstream_origin and sent["body"]["continue_clip_id"] == clip
        assert _submits(second) == []
        child = relay.admin("suno.task", task_id=answer.json()["data"])
        assert (child["parent_id"], child["parent_upstream_id"]) == (origin, upstream_origin)
        fresh = customer.post("/suno/submit/lyrics", {"prompt": "rain"})
        assert fresh.status_code == 200 and len(_submits(second)) == 1
    assert customer.balance() == 1_000_000 - 2 * 100_000 - 10_000
    assert customer.audit_ok()


def test_a_continuation_of_someone_elses_task_is_not_found(relay: InProcessRelay, mock: MockServer) -> None:
    owner, other = who(relay), who(relay)
    owner.channel(mock.url)
    other.channel(mock.url)
    origin = owner.post("/suno/submit/music", {"prompt": "mine"}).json()["data"]
    mock.reset()
    answer = other.post("/suno/submit/music", {"prompt": "x", "task_id": origin, "continue_clip_id": "c"})
    assert answer.status_code == 400
    assert answer.json() == {"code": "task_not_exist", "message": "task_origin_not_exist", "data": None}
    assert _submits(mock) == [] and other.balance() == 1_000_000
    (record,) = other.records()
    assert (record["status"], record["error_code"], record["charge"]) == ("refused", "task_not_exist", 0)


@pytest.mark.parametrize(
    ("marker", "status", "code", "error_code"),
    [
        ("[[suno:reject=insufficient_credits]]", 502, "insufficient_credits", "suno_insufficient_credits"),
        ("[[suno:reject=400]]", 400, "fail_to_fetch_task", "suno_http_400"),
    ],
)
def test_an_upstream_refusal_releases_the_hold_at_once(
    relay: InProcessRelay, mock: MockServer, marker: str, status: int, code: str, error_code: str
) -> None:
    customer = who(relay)
    customer.channel(mock.url)
    answer = customer.post("/suno/submit/music", {"prompt": f"a song {marker}"})
    assert answer.status_code == status
    body = answer.json()
    assert (body["code"], body["data"]) == (code, None) and "up-key" not in answer.text
    assert customer.balance() == 1_000_000
    (record,) = customer.records()
    assert (record["status"], record["error_code"], record["charge"], record["hold"]) == (
        "error",
        error_code,
        0,
        100_000,
    )
    assert customer.audit_ok()


def test_a_failing_channel_is_skipped_and_an_unreachable_relay_charges_nothing(
    relay: InProcessRelay, mock: MockServer
) -> None:
    customer = who(relay)
    customer.channel(mock.url)
    customer.channel(mock.fault_base_url("http500"), priority=10)  # tried first, answers 500
    answer = customer.post("/suno/submit/lyrics", {"prompt": "rain"})
    assert answer.status_code == 200 and answer.json()["code"] == "success"
    (record,) = customer.records()
    assert (record["attempts"], record["charge"], record["model"]) == (2, 10_000, "suno_lyrics")

    lonely = who(relay)
    lonely.channel("http://127.0.0.1:9")  # nothing listens there
    down = lonely.post("/suno/submit/music", {"prompt": "x"})
    assert down.status_code == 502 and down.json()["code"] == "do_request_failed"
    assert lonely.balance() == 1_000_000
    assert [r["error_code"] for r in lonely.records()] == ["upstream_unavailable"]
    assert customer.audit_ok() and lonely.audit_ok()


def test_key_limits_auth_routes_and_bodies(relay: InProcessRelay, mock: MockServer) -> None:
    limited = who(relay, models=["suno_lyrics"])
    limited.channel(mock.url)
    refused = limited.post("/suno/submit/music", {"prompt": "x"})
    assert refused.status_code == 403 and refused.json()["code"] == "model_not_allowed"
    assert limited.post("/suno/submit/lyrics", {"prompt": "x"}).status_code == 200

    no_key = httpx.post(f"{relay.url}/suno/submit/music", json={"prompt": "x"}, timeout=30)
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    wrong = limited.post("/suno/submit/music", {"prompt": "x"}, key="sk-wrong")
    assert wrong.status_code == 401
    mj_header = httpx.post(
        f"{relay.url}/suno/fetch", json={"ids": []}, headers={"mj-api-secret": limited.key}, timeout=30
    )
    assert mj_header.json() == {"code": "success", "message": "", "data": []}
    assert limited.get("/suno/nowhere").status_code == 404
    assert limited.post("/suno/fetch", {"ids": "x"}).json()["code"] == "invalid_request"
    assert limited.post("/suno/fetch", {"ids": [1730000000000123, "nope"]}).json()["data"] == []
    assert limited.post("/suno/fetch", {"ids": [f"task_{i}" for i in range(201)]}).status_code == 400
    not_json = httpx.post(
        f"{relay.url}/suno/submit/music",
        content=b"{nope",
        headers={"authorization": f"Bearer {limited.key}"},
        timeout=30,
    )
    assert not_json.status_code == 400 and not_json.json()["message"] == "the body must be a JSON object"
    assert limited.get("/suno/fetch/task_" + "0" * 32).json()["code"] == "task_not_exist"
    assert limited.audit_ok()


def test_what_a_refused_submit_answers() -> None:
    from relay.suno.submit import _refused
    from tollway.suno.upstream import SubmitAnswer

    def answer(status: int, code: str, message: str = "m", data: Any = None) -> tuple[int, dict[str, Any], str]:
        got, error_code = _refused(SubmitAnswer(status, code, message, data), "up-key")
        return got.status, got.body, error_code

    # "success" without a task id is never passed on as a success.
    assert answer(200, "success", "", "") == (
        502,
        {"code": "upstream_error", "message": "the upstream answered without a task id", "data": None},
        "suno_upstream_error",
    )
    assert answer(200, "", "HTTP 200")[1]["code"] == "upstream_error"
    assert answer(200, "banned", "bad words from up-key")[1] == {
        "code": "banned",
        "message": "bad words from [redacted]",
        "data": None,
    }
    assert answer(401, "unauthorized")[0] == 502  # the channel's key, not the client's: a gateway error
    assert answer(429, "busy")[:2] == (429, {"code": "fail_to_fetch_task", "message": "busy: m", "data": None})
    missing, error_code = _refused(None, "")
    assert (missing.status, missing.body["code"], error_code) == (502, "do_request_failed", "upstream_unavailable")
