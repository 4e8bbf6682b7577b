"""notifyHook delivery: tollway-shaped, signed, retried (within a round and in later rounds), deduplicated
by state, and never to an address the SSRF guard refuses — a name resolving to a private address
included, proven with the test's resolver and a socket guard."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from tollway.mj.model import TERMINAL_RANK, StateUpdate, TaskStatus
from tollway.mj.notify import ROUND_BACKOFF_S
from tollway.mj.signing import verify_payload
from tollway.settings import Settings

from tests.unit.tollway.mj.kit import Env, charged_task, customer, now_ms, services
from tests.unit.tollway.mj.ssrfkit import HookReceiver, SocketGuard, resolver


@pytest.fixture
def env(receiver: HookReceiver) -> Iterator[Env]:
    settings = Settings(ssrf_allow=[receiver.origin])
    with services("memory", settings, resolver=resolver) as made:
        yield made


def _finished(env: Env, hook: str, image: str | None = None, status: TaskStatus = TaskStatus.SUCCESS) -> str:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000, notify_hook=hook, state="their-state", public_base="https://relay.test")
    view = {"imageUrl": image} if image else {}
    env.rt.tasks.apply(
        task.task_id, StateUpdate(status, "100%" if status is TaskStatus.SUCCESS else "", view), now_ms()
    )
    return task.task_id


def test_the_final_state_is_sent_signed_and_retried_after_a_500(
    env: Env, receiver: HookReceiver, socket_guard: SocketGuard
) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    receiver.statuses.extend([500])
    task_id = _finished(env, f"{receiver.origin}/hook", image=f"{receiver.origin}/img.png")
    task = env.rt.tasks.get(task_id)
    assert task is not None
    done = env.rt.engine.followups(task, now_ms())

    posts = [h for h in receiver.hits if h.method == "POST"]
    assert len(posts) == 2  # a 500, then delivered
    secret = env.rt.keys.hook_secret(task.account_id)
    for hit in posts:
        assert verify_payload(secret, hit.body, hit.headers["x-tollway-signature"], now_s=int(time.time()))
        assert hit.headers["x-tollway-event-id"] == f"{task_id}:{TERMINAL_RANK}"
    body = json.loads(posts[0].body)
    assert (body["id"], body["status"], body["state"]) == (task_id, "SUCCESS", "their-state")
    assert body["imageUrl"].startswith(f"https://relay.test/mj/image/{task_id}?exp=")  # the task's image mode: relay
    assert posts[0].body == posts[1].body
    assert not verify_payload(
        env.rt.keys.hook_secret("acct_other"),
        posts[0].body,
        posts[0].headers["x-tollway-signature"],
        now_s=int(time.time()),
    )
    assert done.hook_rank == TERMINAL_RANK and not done.open
    # Deduplicated by state: running the follow-ups again sends nothing.
    env.rt.engine.followups(env.rt.tasks.get(task_id) or done, now_ms())
    assert len([h for h in receiver.hits if h.method == "POST"]) == 2
    assert socket_guard.blocked_attempts() == []


def test_a_name_resolving_to_a_private_address_is_never_called(env: Env, socket_guard: SocketGuard) -> None:
    for hook in ("https://private.test/hook", "https://meta.test/x", "https://rebind.test/x", "https://loop.test/x"):
        env.rt.policy.check_url(hook)  # nothing refuses it before it is resolved…
        task_id = _finished(env, hook)
        task = env.rt.tasks.get(task_id)
        assert task is not None
        done = env.rt.engine.followups(task, now_ms())
        stored = env.rt.tasks.get(task_id)
        assert stored is not None and stored.hook_error is not None and stored.hook_error.startswith("blocked")
        assert done.hook_rank == TERMINAL_RANK and not stored.open  # given up at once: never retried
    assert socket_guard.attempts == []  # …and no connection was ever made


def test_failed_rounds_are_rescheduled_with_backoff(
    env: Env, receiver: HookReceiver, socket_guard: SocketGuard
) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    receiver.statuses.extend([503, 503, 503])
    task_id = _finished(env, f"{receiver.origin}/hook", status=TaskStatus.FAILURE)
    now = now_ms()
    task = env.rt.tasks.get(task_id)
    assert task is not None
    after_round = env.rt.engine.followups(task, now)
    assert len(receiver.hits) == 3 and after_round.open  # a round of three attempts, then wait
    stored = env.rt.tasks.get(task_id)
    assert stored is not None and stored.hook_attempts == 1
    assert stored.hook_next_at == now + ROUND_BACKOFF_S[0] * 1000
    assert stored.refunded_at is not None  # the refund does not wait for the hook
    env.rt.engine.followups(stored, now + 1000)  # not due yet
    assert len(receiver.hits) == 3
    delivered = env.rt.engine.followups(stored, stored.hook_next_at)
    assert len(receiver.hits) == 4 and delivered.hook_rank == TERMINAL_RANK and not delivered.open


def test_an_intermediate_state_is_sent_once_best_effort(
    env: Env, receiver: HookReceiver, socket_guard: SocketGuard
) -> None:
    socket_guard.allowed.add(("127.0.0.1", receiver.port))
    receiver.statuses.extend([500])
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000, notify_hook=f"{receiver.origin}/hook")
    _, moved = env.rt.tasks.apply(task.task_id, StateUpdate(TaskStatus.IN_PROGRESS, "50%", {}), now_ms())
    assert moved is not None
    after = env.rt.engine.followups(moved, now_ms())
    assert len(receiver.hits) == 1 and after.hook_attempts == 0 and after.open  # no retry round for it
    _, final = env.rt.tasks.apply(task.task_id, StateUpdate(TaskStatus.SUCCESS, "100%", {}), now_ms())
    assert final is not None
    env.rt.engine.followups(final, now_ms())
    assert [json.loads(h.body)["status"] for h in receiver.hits] == ["IN_PROGRESS", "SUCCESS"]
