"""Why the relay signs with botocore and sends with its own client: CPU per Bedrock stream, two ways.

    .venv/bin/python -m bench.bedrock_clients [--streams 200] [--concurrency 4] [--tokens 40]

Both paths call the same mock Bedrock (its own process, unpaced) with the same Claude
``invoke-with-response-stream`` request and read every event:

- ``tollway``: ``BedrockTransport`` on the relay's pooled async httpx2 client (SigV4 by botocore's
  signer, event-stream frames decoded and re-sent as Anthropic SSE), ``concurrency`` tasks on one
  event loop;
- ``boto3``: the ``bedrock-runtime`` client's ``invoke_model_with_response_stream`` (blocking), in
  ``concurrency`` threads, as an async relay would have to run it (each stream holds a thread), each
  event re-framed as the SSE the relay's client needs.

The figure is this process's CPU (utime+stime) per stream. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from tollway.config.model import Channel
from tollway.settings import Settings
from tollway.upstream.client import UpstreamClient
from tollway_local.mock import MockConfig, MockProcess

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _tollway(url: str, counts: list[int], concurrency: int, tokens: int) -> list[float]:
    """CPU ms per stream of each batch; one client for all (as in the relay: its TLS context and pool
    are built once per process)."""
    client = UpstreamClient(Settings())
    channel = Channel("b", "b", "bedrock", url, (MODEL,), settings={"region": "us-east-1"}, has_key=False)
    body = orjson.dumps(
        {
            "model": MODEL,
            "stream": True,
            "max_tokens": tokens,
            "messages": [{"role": "user", "content": f"go [[len={tokens}]]"}],
        }
    )

    async def worker(queue: list[int]) -> None:
        while queue:
            queue.pop()
            response = await client.open(channel, "/v1/messages", MODEL, None, body)
            deltas = 0
            async for chunk in response.aiter_raw():
                deltas += chunk.count(b"text_delta")
            await response.aclose()
            if deltas != tokens:
                raise RuntimeError(f"{deltas} deltas")

    out = []
    try:
        for count in counts:
            queue = list(range(count))
            before = _cpu()
            await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
            out.append((_cpu() - before) * 1000 / count)
    finally:
        await client.aclose()
    return out


def _boto3(url: str, counts: list[int], concurrency: int, tokens: int) -> list[float]:
    import boto3

    client: Any = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url)
    body = orjson.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": tokens,
            "messages": [{"role": "user", "content": f"go [[len={tokens}]]"}],
        }
    )

    def one(_: int) -> None:
        answer = client.invoke_model_with_response_stream(modelId=MODEL, body=body)
        deltas = 0
        for event in answer["body"]:
            raw = event["chunk"]["bytes"]
            kind = orjson.loads(raw)["type"]  # the same SSE re-framing the relay must do for its client
            sse = b"event: " + kind.encode() + b"\ndata: " + raw + b"\n\n"
            deltas += sse.count(b"text_delta")
        if deltas != tokens:
            raise RuntimeError(f"{deltas} deltas")

    out = []
    with ThreadPoolExecutor(concurrency) as pool:
        for count in counts:
            before = _cpu()
            list(pool.map(one, range(count)))
            out.append((_cpu() - before) * 1000 / count)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDBENCH")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    per_round = max(args.streams // args.rounds, 1)
    counts = [20] + [per_round] * args.rounds  # the first batch warms up (imports, pools, credentials)
    with MockProcess(MockConfig.fast()) as mock:
        figures = {
            "tollway": asyncio.run(_tollway(mock.url, counts, args.concurrency, args.tokens))[1:],
            "boto3": _boto3(mock.url, counts, args.concurrency, args.tokens)[1:],
        }
    print(f"client CPU per Bedrock Claude stream ({args.tokens} deltas, C={args.concurrency}, {per_round}/round):")
    for name, values in figures.items():
        print(f"  {name:8} median {sorted(values)[len(values) // 2]:6.2f} ms  rounds {[round(v, 2) for v in values]}")


if __name__ == "__main__":
    main(sys.argv[1:])
