"""The relay's stream path alone against the floor's, in one process: CPU per stream over loopback.

    .venv/bin/python -m bench.stream_path [--streams 480] [--rounds 5] [--concurrency 16] [--tokens 40]

What ``python -m bench`` cannot resolve on a shared machine (its relay and floor cells run a minute
apart, and their CPU drifts by ±10% between runs) this measures directly: the mock upstream runs in a
child process; this process, pinned to one core, relays the same chat stream (``tokens`` content
chunks, paced like the benchmark's, 44 events for 40 tokens) either through the relay's stream path —
``RelayStream`` driving a ``StreamSession`` with the real chat meter, exchange and usage record, the
upstream read through ``UpstreamResponse`` — or through the floor's (a Starlette ``StreamingResponse``
over ``aiter_raw``), both on one pooled ``httpx2.AsyncClient`` with the relay's limits, alternating
lanes in rounds so that drift hits both alike. Nothing else is in either lane: no server, no
middleware, no store (the settle is a no-op), so the difference is what the stream path itself adds
per stream. CPU is this process's ``time.process_time()`` over a lane's streams. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import httpx2
import orjson
from relay.calls import Billing, Call, Exchange
from relay.endpoints.base import RequestBody
from relay.endpoints.chat import ChatCompletions
from relay.responses import RelayStream
from relay.sessions import StreamSession
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.types import Message
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.auth import KeyContext
from tollway.ledger.model import HoldRequest
from tollway.pricing.schema import ModelPrice, TokenPrices
from tollway.records import UsageRecord
from tollway.upstream.response import UpstreamResponse

__all__ = ["main"]

_SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST"}
_PRICE = ModelPrice(tokens=TokenPrices(input=Decimal(1), output=Decimal(2)))


def _exchange(spec: ChatCompletions, body: dict[str, Any]) -> Exchange:
    """A real exchange of a chat stream whose settle does nothing (the store is not what is measured)."""
    account = Account(account_id="acct_b", name="b", group="default", status=AccountStatus.ACTIVE, balance=10**9,
                      created_at=1)  # fmt: skip
    key = ApiKey(key_hash="h", key_id="key_b", account_id="acct_b", name="k", prefix="sk-b", status=KeyStatus.ACTIVE,
                 created_at=1)  # fmt: skip
    hold = HoldRequest(hold_id="req_b", account_id="acct_b", key_hash="h", key_id="key_b", key_limited=False,
                       amount=10**6, created_at=1)  # fmt: skip
    prepared = spec.prepare(RequestBody(raw=orjson.dumps(body), content_type="application/json", json=body))
    call = Call(request_id="req_b", started=time.monotonic(), created_at=1, endpoint=spec.name,
                context=KeyContext(key=key, account=account), model=prepared.model, stream=True)  # fmt: skip

    async def settle(cost: int, record: UsageRecord) -> None:
        return None

    billing = Billing(price=_PRICE, ratio=Decimal(1), hold=hold)
    return Exchange(spec, None, call, prepared, billing, [], None, settle)  # type: ignore[arg-type]


async def _one(lane: str, client: httpx2.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    request = client.build_request("POST", url, content=orjson.dumps(body), headers=headers)
    upstream = await client.send(request, stream=True)
    sent: list[bytes] = []
    never = asyncio.Event()

    async def receive() -> Message:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message.get("body", b""))

    response: Response
    if lane == "floor":
        response = StreamingResponse(upstream.aiter_raw(), 200, background=BackgroundTask(upstream.aclose))
    else:
        session = StreamSession(_exchange(ChatCompletions(), body), UpstreamResponse(upstream), 48 << 20)
        response = RelayStream(session, 15.0, 870.0)
    await response(_SCOPE, receive, send)
    if b"data: [DONE]" not in b"".join(sent):
        raise RuntimeError(f"{lane}: a stream without its end")


async def _lane(lane: str, client: httpx2.AsyncClient, url: str, streams: int, concurrency: int, tokens: int) -> float:
    body = {"model": "gpt-5.4-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": f"Benchmark answer please. [[len={tokens}]]"}]}  # fmt: skip
    headers = {"authorization": "Bearer bench", "content-type": "application/json", "accept-encoding": "identity"}
    per_worker = max(1, streams // concurrency)

    async def worker(n: int) -> None:
        for _ in range(n):
            await _one(lane, client, url, body, headers)

    await asyncio.gather(*(worker(2) for _ in range(concurrency)))  # warm-up: connections, caches
    gc.collect()
    started = time.process_time()
    await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
    return (time.process_time() - started) * 1000 / (per_worker * concurrency)


async def _run(args: argparse.Namespace, url: str) -> dict[str, list[float]]:
    client = httpx2.AsyncClient(
        timeout=httpx2.Timeout(600.0, connect=10.0),
        limits=httpx2.Limits(max_connections=4096, max_keepalive_connections=1024),
        follow_redirects=False,
        trust_env=False,
    )
    figures: dict[str, list[float]] = {"relay": [], "floor": []}
    try:
        for _ in range(args.rounds):
            for lane in ("relay", "floor"):
                cpu = await _lane(lane, client, f"{url}/v1/chat/completions", args.streams, args.concurrency,
                                  args.tokens)  # fmt: skip
                figures[lane].append(cpu)
                print(f"  {lane:5s} {cpu:.3f} CPU ms per stream", file=sys.stderr)
    finally:
        await client.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=480, help="measured streams per lane and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=40)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    mock = subprocess.Popen(
        [sys.executable, "-m", "tollway_local.mock", "--port", "0", "--latency-ms", "20", "--tokens-per-s", "200"],
        stdout=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus[:1])) if len(cpus) > 1 else None,
    )
    try:
        assert mock.stdout is not None
        url = str(orjson.loads(mock.stdout.readline())["url"])
        if len(cpus) > 1:
            os.sched_setaffinity(0, cpus[-1:])  # this process alone on the other core, as the relay in bench
        figures = asyncio.run(_run(args, url))
    finally:
        mock.terminate()
        mock.wait(10)
    relay, floor = statistics.median(figures["relay"]), statistics.median(figures["floor"])
    diffs = [r - f for r, f in zip(figures["relay"], figures["floor"], strict=True)]
    events = args.tokens + 4  # role chunk, tokens, finish chunk, usage chunk, [DONE]
    print(f"stream path, C={args.concurrency}, {args.rounds} rounds of {args.streams} streams per lane "
          f"({events} events each): CPU ms per stream, median")  # fmt: skip
    print(f"  relay {relay:.3f}   floor {floor:.3f}   relay/floor {relay / floor:.2f}×")
    print(f"  relay − floor per round {[round(d, 2) for d in diffs]}; median {statistics.median(diffs):.3f} ms "
          f"per stream = {statistics.median(diffs) / events * 1000:.1f} µs per event")  # fmt: skip


if __name__ == "__main__":
    main()
