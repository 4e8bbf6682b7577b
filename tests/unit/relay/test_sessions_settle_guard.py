"""relay.sessions: a stream or byte body already sent is settled exactly once at its end — even when
metering it raises (issue 11 defect 4: the hold stayed open and maintenance refunded a served
request) — and a settle the store refuses still lets the response end cleanly (seen in the chaos
soak's store outage: the client got a protocol error after its whole answer)."""

from __future__ import annotations

from decimal import Decimal

from relay.calls import Exchange
from relay.endpoints.base import Prepared
from relay.endpoints.chat import ChatCompletions
from relay.sessions import ByteSession, StreamSession
from tollway.errors import StoreUnavailable
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord

from tests.unit.relay.test_sessions import USAGE, Meter, Upstream, _chat, _chunk, _exchange, _pump


class BrokenPrice(ChatCompletions):
    """An endpoint whose price cannot be computed (e.g. a model the price table no longer has); it meters
    streams as chat completions do."""

    name = "broken"

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int:
        raise ValueError("no price for this model")


def _metering_fails(settled: list[tuple[int, UsageRecord]]) -> Exchange:
    prepared = Prepared(model="m", stream=True, body={}, input_bound=0)
    return _exchange(BrokenPrice(), prepared, settled)


def test_a_stream_whose_metering_raises_is_settled_once_at_its_hold() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange = _metering_fails(settled)
    upstream = Upstream([_chunk("hello"), _chunk(None, USAGE), b"data: [DONE]\n\n"])

    _pump(StreamSession(exchange, upstream, 1 << 20))

    assert [(cost, r.status, r.error_code) for cost, r in settled] == [(1_000, RecordStatus.OK, "metering_failed")]


def test_a_byte_body_whose_metering_raises_is_settled_once_at_its_hold() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange = _metering_fails(settled)

    _pump(ByteSession(exchange, Upstream([b"abc"]), Meter()))  # type: ignore[arg-type]

    assert [(cost, r.error_code) for cost, r in settled] == [(1_000, "metering_failed")]


def test_a_settle_the_store_refuses_after_the_body_was_sent_still_ends_the_response() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)

    async def store_down(cost: int, record: UsageRecord) -> None:
        settled.append((cost, record))
        raise StoreUnavailable("The billing store is unreachable.")

    exchange.settle = store_down
    session = StreamSession(exchange, Upstream([_chunk("hello"), _chunk(None, USAGE), b"data: [DONE]\n\n"]), 1 << 20)

    out = _pump(session)  # finish does not raise

    assert len(settled) == 1 and out
