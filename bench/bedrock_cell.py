"""A Bedrock streaming cell beside the Anthropic channel's: relay CPU per Claude stream, both ways.

    .venv/bin/python -m bench.bedrock_cell [--streams 200] [--concurrency 4] [--tokens 40]

Starts a local stack (relay in the ``tollway local`` process, its mock upstream and emulator in child
processes, unpaced), adds an ``anthropic`` channel and a ``bedrock`` channel on the mock, and sends
the same ``/v1/messages`` stream (``tokens`` text deltas) through each, alternating lanes in rounds
so that drift on a shared machine hits both alike. Relay CPU is the ``tollway local`` process's
utime+stime (/proc) over a lane's streams; it includes the relay's share of store calls. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import orjson

from bench.procs import cpu_seconds
from tests.support.stack import LocalStack

LANES = {"anthropic": "t-claude-stream", "bedrock": "t-bedrock-claude"}


async def _streams(url: str, key: str, model: str, count: int, concurrency: int, tokens: int) -> int:
    body = orjson.dumps(
        {
            "model": model,
            "max_tokens": tokens,
            "stream": True,
            "messages": [{"role": "user", "content": f"Benchmark answer please. [[len={tokens}]]"}],
        }
    )
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    done = 0
    queue = list(range(count))

    async with httpx2.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            nonlocal done
            while queue:
                queue.pop()
                async with client.stream("POST", f"{url}/v1/messages", content=body, headers=headers) as response:
                    raw = b"".join([chunk async for chunk in response.aiter_raw()])
                if response.status_code != 200 or b"message_stop" not in raw or raw.count(b"text_delta") != tokens:
                    raise RuntimeError(f"bad stream: {response.status_code} {raw[:300]!r}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200, help="measured streams per lane")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        stack = LocalStack(Path(folder)).start()
        try:
            mock = stack.info["mock"]
            stack.admin(
                "channel.add",
                name="bench anthropic",
                type="anthropic",
                base_url=mock,
                api_key="k",
                models=[LANES["anthropic"]],
            )
            stack.admin(
                "channel.add",
                name="bench bedrock",
                type="bedrock",
                base_url=mock,
                models=[LANES["bedrock"]],
                settings={"region": "us-east-1"},
                model_map={LANES["bedrock"]: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
            )
            who = stack.customer(credit_usd="500.00")
            pid = stack.process.pid if stack.process else 0
            per_round = max(args.streams // args.rounds, 1)
            for model in LANES.values():  # warm-up: imports, pools, credentials, caches
                asyncio.run(_streams(stack.url, who.key, model, 20, args.concurrency, args.tokens))
            cpu_ms: dict[str, list[float]] = {lane: [] for lane in LANES}
            wall: dict[str, float] = dict.fromkeys(LANES, 0.0)
            for _ in range(args.rounds):
                for lane, model in LANES.items():
                    before, started = cpu_seconds(pid), time.perf_counter()
                    done = asyncio.run(_streams(stack.url, who.key, model, per_round, args.concurrency, args.tokens))
                    wall[lane] += time.perf_counter() - started
                    cpu_ms[lane].append((cpu_seconds(pid) - before) * 1000 / done)
            print(
                f"relay CPU per /v1/messages stream ({args.tokens} text deltas, C={args.concurrency}, "
                f"{args.rounds} rounds x {per_round} streams per lane):"
            )
            for lane in LANES:
                values = cpu_ms[lane]
                print(
                    f"  {lane:9} median {statistics.median(values):6.2f} ms  rounds {[round(v, 2) for v in values]}"
                    f"  ({per_round * args.rounds / wall[lane]:.1f} streams/s)"
                )
            ratio = statistics.median(cpu_ms["bedrock"]) / statistics.median(cpu_ms["anthropic"])
            print(f"  bedrock / anthropic: {ratio:.2f}")
        finally:
            stack.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
