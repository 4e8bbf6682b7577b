"""tollway.tasks.reads — a client's read refreshes quiet tasks through the provider's read (news applied,
an unreadable channel served as stored, a timed-out task failed and refunded at once), and the ids of a
list-by-ids body as Midjourney and Suno clients send them."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from tollway.mj.model import StateUpdate, Task, TaskStatus
from tollway.settings import Settings
from tollway.tasks.reads import parse_ids, refresh

from tests.unit.tollway.mj.kit import Env, charged_task, customer, now_ms, services


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (["1", " 2 ", 3], ["1", "2", "3"]),
        ([], []),
        (["a", "a"], ["a", "a"]),  # duplicates are the caller's business (Suno drops them, MJ keeps them)
    ],
)
def test_strings_and_numbers_are_ids(raw: list[Any], ids: list[str]) -> None:
    assert parse_ids(raw) == ids


@pytest.mark.parametrize("raw", [None, "1", {"ids": ["1"]}, [True], ["1", None], [1.5]])
def test_anything_else_is_not_a_list_of_ids(raw: Any) -> None:
    assert parse_ids(raw) is None


# ---- refresh: the one rule for every provider's quiet tasks --------------------------------------------


def _env(refresh_after_s: float = 0) -> contextlib.AbstractContextManager[Env]:
    return services("memory", Settings(mj_refresh_after_s=refresh_after_s))


def test_news_of_a_quiet_task_is_applied_and_reported_as_moved() -> None:
    with _env() as env:
        task = charged_task(env, customer(env.svc, 1_000_000), 50_000)
        asked: list[tuple[str, list[str]]] = []

        def read(channel_id: str, tasks: list[Task]) -> dict[str, StateUpdate] | None:
            asked.append((channel_id, [t.task_id for t in tasks]))
            return {task.task_id: StateUpdate(TaskStatus.IN_PROGRESS, "40%", {})}

        (fresh,), moved = refresh(env.rt, read, [task], now_ms())

        assert asked == [(task.channel_id, [task.task_id])]
        assert fresh.status is TaskStatus.IN_PROGRESS and moved == [fresh]


def test_an_unreadable_channel_serves_the_stored_state() -> None:
    with _env() as env:
        task = charged_task(env, customer(env.svc, 1_000_000), 50_000)

        (fresh,), moved = refresh(env.rt, lambda channel_id, tasks: None, [task], now_ms())

        assert fresh == task and moved == []


def test_a_task_that_moved_recently_is_not_read() -> None:
    with _env(refresh_after_s=3600) as env:
        task = charged_task(env, customer(env.svc, 1_000_000), 50_000)

        def read(channel_id: str, tasks: list[Task]) -> dict[str, StateUpdate] | None:
            raise AssertionError("a task that moved within refresh_after_s is served as stored")

        assert refresh(env.rt, read, [task], now_ms()) == ([task], [])


def test_a_task_past_the_timeout_is_failed_and_refunded_without_a_read() -> None:
    with _env() as env:
        who = customer(env.svc, 1_000_000)
        task = charged_task(env, who, 50_000, created_at=now_ms() - 2 * 3600 * 1000)

        def read(channel_id: str, tasks: list[Task]) -> dict[str, StateUpdate] | None:
            raise AssertionError("a timed-out task is not read")

        (fresh,), _ = refresh(env.rt, read, [task], now_ms())

        assert fresh.status is TaskStatus.FAILURE and fresh.refunded_at is not None
        assert env.svc.ledger.balance(who.account.account_id) == 1_000_000
