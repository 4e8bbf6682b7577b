"""Heartbeats on a silent stream and the non-streaming deadline, with short settings (in-process relay
over in-memory stores, real sockets)."""

from __future__ import annotations

import httpx
import pytest
from tollway.ledger.model import HoldState
from tollway_local.mock import MockServer

from tests.support.relay_server import relay_server

pytestmark = pytest.mark.integration


def test_a_silent_upstream_stream_gets_heartbeats_only_after_it_answered(mock: MockServer) -> None:
    with relay_server(heartbeat_s=0.2) as relay:
        account = relay.admin("account.create", name="hb", credit_usd="1.00")
        key = relay.admin("key.create", account_id=account["account_id"])["key"]
        relay.admin(
            "channel.add",
            name="stall",
            type="mock",
            base_url=mock.fault_base_url("stall_after=2"),
            models=["t-stream"],
            api_key="k",
        )
        body = {"model": "t-stream", "stream": True, "messages": [{"role": "user", "content": "x [[len=10]]"}]}
        lines: list[str] = []
        with (
            httpx.Client(timeout=30) as http,
            http.stream(
                "POST", f"{relay.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            ) as response,
        ):
            for line in response.iter_lines():
                lines.append(line)
                if lines.count(": ping") >= 2:
                    break
        data = [n for n, line in enumerate(lines) if line.startswith("data: ")]
        pings = [n for n, line in enumerate(lines) if line == ": ping"]
        assert len(data) >= 2 and len(pings) == 2
        assert min(pings) > min(data)  # the first bytes were the upstream's, not a heartbeat


def test_a_non_streaming_call_past_the_deadline_gets_504_and_costs_nothing(mock: MockServer) -> None:
    with relay_server(non_stream_deadline_s=0.5) as relay:
        account = relay.admin("account.create", name="deadline", credit_usd="1.00")
        key = relay.admin("key.create", account_id=account["account_id"])["key"]
        relay.admin(
            "channel.add",
            name="slow",
            type="mock",
            base_url=mock.fault_base_url("timeout"),
            models=["t-timeout"],
            api_key="k",
        )
        with httpx.Client(timeout=30) as http:
            response = http.post(
                f"{relay.url}/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": "t-timeout", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
            )
        assert response.status_code == 504
        error = response.json()["error"]
        assert error["code"] == "upstream_timeout" and "stream" in error["message"]
        ledger = relay.services.ledger
        assert ledger.balance(account["account_id"]) == 1_000_000
        assert not [h for h in ledger.holds() if h.state is HoldState.OPEN]
        assert ledger.audit(account["account_id"]).ok
