"""relay.sessions — a relayed stream or byte body settles through its exchange's ``settle`` callable,
exactly once, at the endpoint's charge; a session needs no pipeline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anyio
import orjson
import pytest
from relay.calls import Billing, Call, Exchange
from relay.endpoints.base import EndpointHooks, Prepared, RequestBody
from relay.endpoints.chat import ChatCompletions
from relay.sessions import ByteSession, StreamSession
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.auth import KeyContext
from tollway.ledger.model import HoldRequest
from tollway.pricing.schema import ModelPrice, TokenPrices
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord
from tollway.sse import encode_data

# $1 per 1M input and $2 per 1M output tokens: 10 in + 5 out = 20 micro-USD.
PRICE = ModelPrice(tokens=TokenPrices(input=Decimal(1), output=Decimal(2)))
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


class Upstream:
    def __init__(self, chunks: list[bytes], *, fail: bool = False) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = 0

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail:
            import httpx2

            raise httpx2.ReadError("cut")

    async def aclose(self) -> None:
        self.closed += 1


def _exchange(spec: Any, prepared: Prepared, settled: list[tuple[int, UsageRecord]]) -> Exchange:
    account = Account(account_id="acct_1", name="a", group="default", status=AccountStatus.ACTIVE, balance=10**6,
                      created_at=1)  # fmt: skip
    key = ApiKey(key_hash="h", key_id="key_1", account_id="acct_1", name="k", prefix="sk-x", status=KeyStatus.ACTIVE,
                 created_at=1)  # fmt: skip
    hold = HoldRequest(hold_id="req_1", account_id="acct_1", key_hash="h", key_id="key_1", key_limited=False,
                       amount=1_000, created_at=1)  # fmt: skip
    call = Call(request_id="req_1", started=time.monotonic(), created_at=1, endpoint=spec.name,
                context=KeyContext(key=key, account=account), model=prepared.model)  # fmt: skip

    async def settle(cost: int, record: UsageRecord) -> None:
        settled.append((cost, record))

    billing = Billing(price=PRICE, ratio=Decimal(1), hold=hold)
    return Exchange(spec, None, call, prepared, billing, [], None, settle)  # type: ignore[arg-type]


def _chat(settled: list[tuple[int, UsageRecord]]) -> tuple[Exchange, Prepared]:
    spec = ChatCompletions()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    prepared = spec.prepare(RequestBody(raw=orjson.dumps(body), content_type="application/json", json=body))
    return _exchange(spec, prepared, settled), prepared


def _chunk(content: str | None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return encode_data({"id": "c", "object": "chat.completion.chunk", "choices": choices, "usage": usage})


def _pump(session: StreamSession | ByteSession, *, client_closed: bool = False) -> list[bytes]:
    out: list[bytes] = []

    async def emit(data: bytes) -> None:
        out.append(data)

    async def run() -> None:
        await session.pump(emit)
        await session.finish(client_closed)
        await session.finish(client_closed)  # a second finish (disconnect racing the end) settles nothing

    anyio.run(run)
    return out


def test_a_finished_stream_settles_once_at_the_metered_charge() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)
    upstream = Upstream([_chunk("hello"), _chunk(None, USAGE), b"data: [DONE]\n\n"])

    _pump(StreamSession(exchange, upstream, 1 << 20))

    assert [(cost, r.status, r.tokens) for cost, r in settled] == [(20, RecordStatus.OK, {"input": 10, "output": 5})]
    assert upstream.closed == 1 and exchange.call.ttft_ms is not None


def test_a_broken_stream_settles_once_at_zero() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)

    out = _pump(StreamSession(exchange, Upstream([_chunk("hel")], fail=True), 1 << 20))

    assert [(cost, r.status, r.error_code) for cost, r in settled] == [
        (0, RecordStatus.ERROR, "upstream_stream_broken")
    ]
    assert b"upstream_error" in out[-1]


def test_a_chunk_of_several_events_is_metered_whole_before_any_of_it_is_sent() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)
    # The second event breaks the stream: the first, in the same chunk, is withheld with it.
    upstream = Upstream([_chunk("a"), _chunk("b") + b"data: {not json\n\n" + _chunk("c")])

    out = _pump(StreamSession(exchange, upstream, 1 << 20))

    assert out[0] == _chunk("a") and len(out) == 2 and b"upstream_error" in out[1] and b'"b"' not in out[1]
    assert [(cost, r.error_code) for cost, r in settled] == [(0, "upstream_stream_broken")]


class Remembering(ChatCompletions):
    """A chat endpoint that stores on success and notes what the client had been sent by then."""

    stores_on_success = True

    def __init__(self, sent: list[bytes]) -> None:
        super().__init__()
        self.sent = sent
        self.seen: list[tuple[int, RecordStatus]] = []

    def succeeded(self, prepared: Prepared, record: UsageRecord) -> None:
        self.seen.append((len(self.sent), record.status))


@pytest.mark.parametrize("split", [False, True])
def test_the_succeeded_hook_runs_once_before_the_end_is_sent(split: bool) -> None:
    settled: list[tuple[int, UsageRecord]] = []
    out: list[bytes] = []
    spec = Remembering(out)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    prepared = spec.prepare(RequestBody(raw=orjson.dumps(body), content_type="application/json", json=body))
    tail = _chunk(None, USAGE) + b"data: [DONE]\n\n"
    chunks = [_chunk("hello"), tail[:10], tail[10:]] if split else [_chunk("hello"), tail]
    session = StreamSession(_exchange(spec, prepared, settled), Upstream(chunks), 1 << 20)

    async def emit(data: bytes) -> None:
        out.append(data)

    async def run() -> None:
        await session.pump(emit)
        await session.finish(False)

    anyio.run(run)

    assert spec.seen == [(1, RecordStatus.OK)]  # after the content, before the usage chunk and [DONE]
    assert out[-1].endswith(b"data: [DONE]\n\n") and len(out) == 2


class FlatFee(EndpointHooks):
    """An endpoint whose ``cost`` hook replaces the model's price."""

    name = "flat"

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int:
        return 7


class Meter:
    drain_on_disconnect = False
    usage_source: str | None = "estimated"

    def __init__(self) -> None:
        self.seen = 0

    def feed(self, chunk: bytes) -> None:
        self.seen += len(chunk)

    def usage(self, complete: bool) -> Usage | None:
        return Usage(output_tokens=self.seen)


def test_a_byte_body_settles_at_the_endpoint_cost_hook_with_the_meters_usage_source() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    prepared = Prepared(model="m", stream=False, body={}, input_bound=0)
    exchange = _exchange(FlatFee(), prepared, settled)

    out = _pump(ByteSession(exchange, Upstream([b"abc", b"de"]), Meter()))

    assert b"".join(out) == b"abcde"
    assert [(cost, r.status, r.usage_source, r.tokens) for cost, r in settled] == [
        (7, RecordStatus.OK, "estimated", {"output": 5})
    ]


def test_the_hooks_default_to_the_models_price_and_the_upstreams_json() -> None:
    hooks = EndpointHooks()
    prepared = Prepared(model="m", stream=False, body={}, input_bound=0)

    assert hooks.cost(prepared, PRICE, Usage(input_tokens=10, output_tokens=5), Decimal(1)) == 20
    assert hooks.cost(prepared, PRICE, Usage(input_tokens=10, output_tokens=5), Decimal(2)) == 40
    assert hooks.render(prepared, {}, b'{"a":1}') == (b'{"a":1}', "application/json")
    assert not hooks.resolves and not hooks.stores_on_success


class Trailing(Upstream):
    """An upstream whose body goes on after the stream's end; notes how far it was read."""

    def __init__(self, chunks: list[bytes], after: list[bytes], *, then: str = "end") -> None:
        super().__init__(chunks)
        self.after = after
        self.then = then
        self.read_after = 0
        self.ended = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        for chunk in self.after:
            self.read_after += 1
            yield chunk
        if self.then == "hang":
            await anyio.sleep_forever()
        if self.then == "fail":
            import httpx2

            raise httpx2.ReadError("reset after the end")
        self.ended = True


STREAM = [_chunk("hello"), _chunk(None, USAGE), b"data: [DONE]\n\n"]


@pytest.mark.parametrize("then", ["end", "fail", "hang"])
def test_after_the_streams_end_the_upstream_body_is_read_not_forwarded(then: str) -> None:
    # Read to its end, a body leaves its connection in the pool; what comes after the end is neither
    # sent nor metered, and an upstream that errs or never ends its body changes nothing for the client.
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)
    upstream = Trailing(STREAM, [_chunk("late", {"prompt_tokens": 99, "completion_tokens": 99})], then=then)

    out = _pump(StreamSession(exchange, upstream, 1 << 20))  # "hang": the session bounds its own wait

    assert b"".join(out) == _chunk("hello") + b"data: [DONE]\n\n"
    assert upstream.read_after == 1 and upstream.ended == (then == "end")
    assert [(cost, r.status, r.tokens) for cost, r in settled] == [(20, RecordStatus.OK, {"input": 10, "output": 5})]


def test_a_body_going_on_long_after_the_streams_end_is_closed_unread() -> None:
    settled: list[tuple[int, UsageRecord]] = []
    exchange, _ = _chat(settled)
    upstream = Trailing(STREAM, [b": " + b"x" * 10_000 + b"\n\n"] * 100)  # ~1 MB after [DONE]

    _pump(StreamSession(exchange, upstream, 1 << 20))

    assert 0 < upstream.read_after < 100 and not upstream.ended and upstream.closed == 1
    assert [r.status for _, r in settled] == [RecordStatus.OK]
