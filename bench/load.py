"""The load generator: a closed loop of `concurrency` asyncio workers on one httpx2 client.

The hot loop only sends, reads and time-stamps (`time.perf_counter`); every response is validated
after the cell (`check`), so validation costs nothing on the shared core while it is measured.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson

from bench.sse import content_token, timed_events
from bench.stats import summary

__all__ = ["STOP", "LoadClient", "Sample", "Target", "check", "chat_payload", "latency_figures"]

#: Set on Ctrl-C/SIGTERM: workers send nothing more (a cell interrupted mid-way just ends).
STOP = threading.Event()


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # "direct" or "relay"
    url: str  # the chat completions URL
    headers: dict[str, str]
    account: str | None = None  # the account billed (relay targets), for the record count


@dataclass(slots=True)
class Sample:
    start: float
    end: float = 0.0  # the whole answer received (the stream's terminating chunk)
    status: int = 0
    request_id: str | None = None
    body: bytes = b""
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    error: str | None = None


def chat_payload(model: str, tokens: int, *, stream: bool) -> bytes:
    """The benchmark's request: one user message, `tokens` completion tokens (`[[len=N]]`)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"Write a short answer for the benchmark. [[len={tokens}]]"}],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


class LoadClient:
    """One pooled client (keep-alive) reused across a cell's warm-up and its measured run."""

    def __init__(self, concurrency: int, timeout_s: float = 120.0) -> None:
        self.concurrency = concurrency
        self._client = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx2.Timeout(timeout_s),
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, target: Target, payload: bytes, *, stream: bool, count: int) -> list[Sample]:
        """Send `count` requests, `self.concurrency` at a time; returns them in completion order."""
        remaining = count
        samples: list[Sample] = []
        client = self._client

        async def one() -> Sample:
            sample = Sample(start=time.perf_counter())
            try:
                if stream:
                    async with client.stream("POST", target.url, content=payload, headers=target.headers) as r:
                        sample.status = r.status_code
                        sample.request_id = r.headers.get("x-request-id")
                        chunks = sample.chunks
                        async for chunk in r.aiter_raw():
                            chunks.append((time.perf_counter(), chunk))
                else:
                    r = await client.post(target.url, content=payload, headers=target.headers)
                    sample.status = r.status_code
                    sample.request_id = r.headers.get("x-request-id")
                    sample.body = r.content
            except httpx2.HTTPError as exc:
                sample.error = f"{type(exc).__name__}: {exc}"
            sample.end = time.perf_counter()
            return sample

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and not STOP.is_set():
                remaining -= 1
                samples.append(await one())

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, count))))
        return samples


def check(sample: Sample, *, stream: bool, tokens: int) -> str | None:
    """Why a response is wrong (None: it is right): status 200, the answer's tokens, usage present."""
    if sample.error:
        return sample.error
    if sample.status != 200:
        head = (sample.body or b"".join(c for _, c in sample.chunks))[:200]
        return f"HTTP {sample.status}: {head!r}"
    if not stream:
        try:
            data = orjson.loads(sample.body)
            content = data["choices"][0]["message"]["content"]
            usage = data["usage"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return f"malformed answer: {sample.body[:200]!r}"
        if not content or usage.get("completion_tokens") != tokens:
            return f"unexpected answer (content {len(content or '')} chars, usage {usage})"
        return None
    events = timed_events(sample.chunks)
    got = sum(1 for e in events if content_token(e))
    if got != tokens:
        return f"stream had {got} content tokens, expected {tokens}"
    if not events or events[-1].data.strip() != b"data: [DONE]":
        return "stream did not end with [DONE]"
    usage_events = [e for e in events if b'"usage":{' in e.data]
    if not usage_events:
        return "stream had no usage chunk"
    usage = orjson.loads(usage_events[-1].data[len(b"data: ") :]).get("usage") or {}
    if usage.get("completion_tokens") != tokens:
        return f"stream usage {usage}"
    return None


def latency_figures(samples: Sequence[Sample], *, stream: bool) -> dict[str, Any]:
    """Latency summaries in ms: `total` (whole answer); for streams also `ttft` (first content
    token) and `done` (the `[DONE]` event)."""
    ok = [s for s in samples if s.error is None and s.status == 200]
    out: dict[str, Any] = {"total_ms": summary([(s.end - s.start) * 1000 for s in ok])}
    if stream:
        ttft: list[float] = []
        done: list[float] = []
        for s in ok:
            events = timed_events(s.chunks)
            first = next((e.t for e in events if content_token(e)), None)
            if first is not None:
                ttft.append((first - s.start) * 1000)
            last = next((e.t for e in reversed(events) if e.data.strip() == b"data: [DONE]"), None)
            if last is not None:
                done.append((last - s.start) * 1000)
        out["ttft_ms"] = summary(ttft)
        out["done_ms"] = summary(done)
        out["events_per_stream"] = (sum(len(timed_events(s.chunks)) for s in ok) / len(ok)) if ok else 0.0
    return out
