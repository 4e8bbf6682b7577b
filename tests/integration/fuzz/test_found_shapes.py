"""Requests the fuzzing found answering 500, replayed over HTTP against the local stack: each now gets a
clear answer below 500, and the account's ledger still balances."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack, wait_until

IMG = "data:image/png;base64,iVBORw0KGgo="
FOUND: list[tuple[str, dict[str, Any]]] = [
    # issue 11 item 9: a prompt variable shaped like an image part with a non-string type
    (
        "/v1/responses",
        {
            "model": "t-resp",
            "input": "hi",
            "prompt": {"id": "pmpt_1", "variables": {"a": {"type": {}, "image_url": IMG}}},
        },
    ),
    ("/v1/responses", {"model": "t-resp", "input": [{"role": "user", "content": [{"type": ["input_image"]}]}]}),
    (
        "/v1/chat/completions",
        {"model": "t-resp", "messages": [{"role": "user", "content": [{"type": {}, "image_url": {"url": IMG}}]}]},
    ),
]


@pytest.mark.parametrize(("path", "body"), FOUND, ids=[f"{p}-{i}" for i, (p, _) in enumerate(FOUND)])
def test_a_shape_that_answered_500(stack: LocalStack, mock: MockServer, path: str, body: dict[str, Any]) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer("10.00")
    response = httpx.post(stack.url + path, json=body, headers={"authorization": f"Bearer {who.key}"}, timeout=60)
    assert response.status_code < 500, response.text
    wait_until(
        lambda: stack.audit(who.account_id)["ok"] and not stack.open_holds(who.account_id) or None,
        what="a balanced account with no open hold",
    )
