"""The client's own notifyHook: tollway calls it (never the upstream), with tollway-shaped task JSON,
signed, retried after a failure, deduplicated by state — and only if the SSRF guard lets it: with the
default guard a hook at a loopback, metadata or private address is never called. (A *name* resolving
to such an address is refused at delivery time: tests/unit/tollway/mj/test_notify.py, with a resolver
the test controls and a socket guard.)"""

from __future__ import annotations

import time

import pytest
from tollway.mj.signing import verify_payload

from tests.integration.mj.conftest import Receiver, World
from tests.support.stack import wait_until

pytestmark = pytest.mark.integration


REFUSED = [
    "STRAY",  # a real receiver on 127.0.0.1 (http, loopback): the default guard refuses both
    "https://127.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://10.20.30.40/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://localhost/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "http://hooks.example.com/plain-http",
    "https://hooks.example.com:22/odd-port",
    "https://user:pass@hooks.example.com/creds",
    "file:///etc/passwd",
]


def test_a_hook_the_guard_refuses_is_never_called_and_nothing_is_charged(
    world: World, stray_receiver: Receiver
) -> None:
    stray = stray_receiver.hook()
    for hook in REFUSED:
        url = stray if hook == "STRAY" else hook
        answer = world.submit("imagine", {"prompt": "a kite", "notifyHook": url})
        assert answer["code"] == 4 and answer["description"].startswith("notifyHook refused"), (hook, answer)
    assert world.submits_received() == []  # nothing went upstream
    time.sleep(0.3)
    assert stray_receiver.received(stray) == []
    assert world.stack.balance(world.who.account_id) == 1_000_000
    records = world.stack.records(world.who.account_id)
    assert len(records) == len(REFUSED)  # one record per refused request
    assert {(r["status"], r["error_code"], r["charge"]) for r in records} == {("refused", "notify_hook_refused", 0)}


def test_an_allowed_receiver_gets_signed_tollway_json_and_a_retry_after_a_500(world: World, receiver: Receiver) -> None:
    hook = receiver.hook(final=(500,))  # the first delivery of the final state fails
    task_id = world.imagine("a glacier [[mj:step_ms=100]]", notifyHook=hook, state="mine")
    # The upstream got tollway's own callback URL, never the client's hook.
    (sent,) = world.submits_received()
    assert sent["body"]["notifyHook"].startswith(f"{world.stack.url}/mj/callback/{task_id}?sig=")
    assert hook not in str(sent)

    def final_hits() -> list[object] | None:
        hits = [h for h in receiver.received(hook) if h.json()["status"] == "SUCCESS"]
        return hits if len(hits) >= 2 else None

    first, second = wait_until(final_hits, timeout_s=20, what="the final state, twice")[:2]  # type: ignore[misc]
    secret = world.http.get(f"{world.stack.url}/mj/notify/secret", headers=world.headers()).json()["secret"]
    assert secret.startswith("whsec_")
    for hit in (first, second):
        header = hit.headers["x-tollway-signature"]
        assert verify_payload(secret, hit.body, header, now_s=int(time.time()))
        assert not verify_payload(secret, hit.body + b" ", header, now_s=int(time.time()))
        assert hit.headers["x-tollway-event-id"] == f"{task_id}:4100"
    body = first.json()
    assert body["id"] == task_id and body["state"] == "mine" and body["progress"] == "100%"
    assert body["imageUrl"].startswith(f"{world.stack.url}/mj/image/{task_id}?")  # tollway's copy
    assert world.mock.url not in first.body.decode() and "clientIp" not in body and "notifyHook" not in str(body)
    assert first.body == second.body  # the retry is the same event

    # Deduplicated by state: the final state was delivered; replayed news does not send it again.
    world.replay(task_id, times=2)
    world.stack.admin("mj.sweep")
    time.sleep(0.3)
    assert len([h for h in receiver.received(hook) if h.json()["status"] == "SUCCESS"]) == 2
    task = world.task(task_id)
    assert task["hook_rank"] == 4100 and task["hook_error"] is None and not task["open"]


def test_the_webhook_secret_is_per_account(world: World, mj_stack: object) -> None:
    other = world.stack.customer(group=world.group)
    mine = world.http.get(f"{world.stack.url}/mj/notify/secret", headers=world.headers()).json()["secret"]
    theirs = world.http.get(f"{world.stack.url}/mj/notify/secret", headers=world.headers(other.key)).json()["secret"]
    assert mine != theirs
    assert world.http.get(f"{world.stack.url}/mj/notify/secret").status_code == 401
