"""Helpers of the Suno unit tests: Suno tasks charged the way the relay charges them (on the Midjourney
kit: services on memory or moto), and upstream tasks on the mock."""

from __future__ import annotations

from typing import Any

import httpx
from tollway.auth import KeyContext
from tollway.mj.model import ImageMode, Task
from tollway.suno.model import mint_task_id
from tollway_local.mock import MockServer

from tests.unit.tollway.mj.kit import Env, charged_task

H = {"authorization": "Bearer suno-upstream-key"}


def suno_task(env: Env, who: KeyContext, price: int, *, upstream_id: str | None = None, **fields: Any) -> Task:
    """A MUSIC task charged ``price`` and accepted upstream as ``upstream_id`` on channel ``ch_suno``."""
    defaults: dict[str, Any] = {
        "task_id": mint_task_id(),
        "kind": "suno",
        "action": "MUSIC",
        "price_key": "suno_music",
        "image_mode": ImageMode.ORIGIN,
        "channel_id": "ch_suno",
    }
    defaults.update(fields)
    channel = str(defaults.pop("channel_id"))
    return charged_task(env, who, price, channel_id=channel, upstream_id=upstream_id, **defaults)


def upstream_task(mock: MockServer, body: dict[str, Any], action: str = "MUSIC") -> str:
    """A task the mock runs, as if tollway had submitted it."""
    answer = httpx.post(f"{mock.url}/suno/submit/{action}", json=body, headers=H, timeout=10).json()
    assert answer["code"] == "success", answer
    return str(answer["data"])


def read_upstream(mock: MockServer, upstream_id: str) -> dict[str, Any]:
    """Read the task on the upstream directly (behind tollway's back): it moves one step."""
    answer = httpx.post(f"{mock.url}/suno/fetch", json={"ids": [upstream_id]}, headers=H, timeout=10).json()
    item: dict[str, Any] = answer["data"][0]
    return item


def advance_upstream(mock: MockServer, upstream_id: str, status: str) -> None:
    for _ in range(10):
        if read_upstream(mock, upstream_id)["status"] == status:
            return
    raise AssertionError(f"upstream task {upstream_id} never reached {status}")
