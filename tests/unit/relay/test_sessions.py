"""relay.sessions: a stream or byte body is settled exactly once at its end — even when metering it
raises (issue 11 defect 4: the hold stayed open and maintenance refunded a served request)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import pytest
from relay.calls import Billing, Call
from relay.sessions import ByteSession, StreamSession
from tollway.auth import KeyContext
from tollway.errors import StoreUnavailable
from tollway.ledger.model import HoldRequest
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord

from tests.support.factories import make_account, make_key, memory_stores, now_ms


@dataclass
class _Settled:
    cost: int
    record: UsageRecord


class _Pipeline:
    def __init__(self) -> None:
        self.settled: list[_Settled] = []

    async def settle_now(self, svc: Any, call: Call, billing: Billing, cost: int, record: UsageRecord) -> None:
        self.settled.append(_Settled(cost, record))


class _Upstream:
    async def aclose(self) -> None:
        return None


class _Meter:
    usage = Usage()
    done = True
    produced_output = ""

    def usage_of(self, complete: bool) -> Usage:
        raise ValueError("a pricing table without this model")


class _Spec:
    def meter(self, prepared: object) -> _Meter:
        return _Meter()

    def cost(self, *args: object) -> int:
        raise ValueError("a pricing table without this model")


def _call_and_billing() -> tuple[Call, Billing]:
    stores = memory_stores()
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    call = Call(request_id="req_1", started=0.0, created_at=now_ms(), endpoint="chat.completions",
                context=KeyContext(key=key, account=account), stream=True)  # fmt: skip
    hold = HoldRequest(hold_id="req_1", account_id=account.account_id, key_hash=key.key_hash, key_id=key.key_id,
                       key_limited=False, amount=700, created_at=now_ms())  # fmt: skip
    return call, Billing(price=None, ratio=Decimal(1), hold=hold)  # type: ignore[arg-type]


@pytest.mark.parametrize("client_closed", [False, True])
def test_a_stream_whose_metering_raises_is_still_settled_once_at_its_hold(client_closed: bool) -> None:
    call, billing = _call_and_billing()
    pipeline = _Pipeline()
    session = StreamSession(pipeline, _Spec(), None, call, None, billing, _Upstream())  # type: ignore[arg-type]

    anyio.run(session.finish, client_closed)
    anyio.run(session.finish, client_closed)  # a second finish changes nothing

    (settled,) = pipeline.settled
    assert settled.cost == 700  # the hold: the worst case the customer agreed to, never more
    assert settled.record.status is RecordStatus.OK and settled.record.error_code == "metering_failed"


def test_a_byte_body_whose_metering_raises_is_still_settled_once_at_its_hold() -> None:
    call, billing = _call_and_billing()
    pipeline = _Pipeline()
    meter = _Meter()
    meter.usage = meter.usage_of  # type: ignore[assignment, method-assign]
    session = ByteSession(pipeline, None, call, billing, _Upstream(), meter)  # type: ignore[arg-type]

    anyio.run(session.finish, False)

    (settled,) = pipeline.settled
    assert settled.cost == 700 and settled.record.error_code == "metering_failed"


class _DownPipeline(_Pipeline):
    async def settle_now(self, svc: Any, call: Call, billing: Billing, cost: int, record: UsageRecord) -> None:
        self.settled.append(_Settled(cost, record))
        raise StoreUnavailable("The billing store is unreachable.")


def test_a_settle_the_store_refuses_after_the_body_was_sent_still_ends_the_response() -> None:
    # Seen in the chaos soak with the store down: the exception broke the connection before its last
    # chunk, and the client saw a protocol error instead of the answer it had already received.
    call, billing = _call_and_billing()
    pipeline = _DownPipeline()
    session = StreamSession(pipeline, _Spec(), None, call, None, billing, _Upstream())  # type: ignore[arg-type]

    anyio.run(session.finish, False)  # does not raise

    assert len(pipeline.settled) == 1
