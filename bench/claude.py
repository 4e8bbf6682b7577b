"""`python -m bench.claude [--cells 1:40,16:320] [--rounds 3] [--tokens 40] [--pace 200] [--out PATH]` — relay CPU per
Claude stream beside the OpenAI stream's.

Brings up the emulator, the mock upstream (its own process, speaking OpenAI and Anthropic) and the relay
as Lambda runs it (uvicorn, uvloop, httptools, pinned to its own core), seeds one account and key, an
OpenAI-dialect channel serving `gpt-5.4-mini` and an `anthropic` channel serving `claude-sonnet-5-5`,
then streams 40-chunk answers (`[[len=40]]`, paced like the main benchmark) in four cells:

- `openai`: chat completions, natively (the reference);
- `claude native`: Messages to the Anthropic channel, events forwarded as they come;
- `chat→claude`: chat completions for the Claude model (converted both ways);
- `messages→openai`: Messages for the GPT model (converted both ways).

Also, in this process, the CPU each stream's parser + meter costs (the part of the relay's work that
differs between the four cells), from synthetic 40-chunk streams: a figure a loaded machine disturbs
far less than whole-process CPU.

Per cell: relay CPU seconds (utime + stime from /proc, settle writes included) per stream, measured
after a warm-up and once the relay is idle again, and every answer checked (status, terminator, 40
tokens). The four cells run interleaved, `--rounds` times (default 3), and each cell reports the median
of its rounds: on a shared machine one round alone swings by ±20%. Prints a table; writes
`bench/results/claude-<UTC time>.json` (or `--out`). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from tollway.admin.commands import load as load_commands
from tollway.admin.registry import AdminContext
from tollway.metering.chat import chat_meter
from tollway.metering.claude import ChatToClaudeMeter, ClaudeMeter, ClaudeToChatMeter, claude_event
from tollway.services import Services
from tollway.settings import Settings
from tollway.sse import SSEParser
from tollway_local.emulator import EmulatorProcess
from tollway_local.mock import MockConfig, MockProcess

from bench.load import LoadClient, Sample, Target
from bench.procs import DUMMY_AWS, RelayProcess, cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
GPT, CLAUDE = "gpt-5.4-mini", "claude-sonnet-5-5"
#: cell name → (path, model, body format)
CELLS: dict[str, tuple[str, str, str]] = {
    "openai": ("/v1/chat/completions", GPT, "chat"),
    "claude native": ("/v1/messages", CLAUDE, "messages"),
    "chat→claude": ("/v1/chat/completions", CLAUDE, "chat"),
    "messages→openai": ("/v1/messages", GPT, "messages"),
}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _admin(services: Services, command: str, args: dict[str, Any]) -> Any:
    envelope = load_commands().dispatch(command, args, AdminContext(services=services, actor="bench"))
    if not envelope.get("ok"):
        raise RuntimeError(f"admin {command} failed: {envelope.get('error')}")
    return envelope["result"]


def _seed(endpoint: str, mock_url: str, pace: dict[str, str]) -> str:
    services = Services.on_aws(Settings(aws_endpoint_url=endpoint))
    account = _admin(services, "account.create", {"name": "bench claude", "credit_usd": "1000000"})
    key = _admin(services, "key.create", {"account_id": account["account_id"], "name": "bench claude"})
    for name, kind, base, model in (
        ("openai", "mock", mock_url + "/v1", GPT),
        ("claude", "anthropic", mock_url, CLAUDE),
    ):
        channel = {
            "name": f"bench {name}",
            "type": kind,
            "base_url": base,
            "api_key": "k",
            "models": [model],
            "headers": pace,
        }
        _admin(services, "channel.add", channel)
    return str(key["key"])


def payload(model: str, form: str, tokens: int) -> bytes:
    text = f"Write a short answer for the benchmark. [[len={tokens}]]"
    body: dict[str, Any] = {"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}
    if form == "messages":
        body["max_tokens"] = 1000
    else:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def problem(sample: Sample, form: str, tokens: int) -> str | None:
    """Why a stream is wrong (None: right): status 200, its terminator, `tokens` content deltas."""
    if sample.error or sample.status != 200:
        return sample.error or f"HTTP {sample.status}"
    raw = b"".join(c for _, c in sample.chunks)
    if form == "messages":
        ends = raw.rstrip().endswith(b'data: {"type":"message_stop"}')
        deltas = raw.count(b'"type":"text_delta"')
    else:
        ends = raw.rstrip().endswith(b"data: [DONE]")
        deltas = raw.count(b'"delta":{"content":"') - raw.count(b'"delta":{"content":""')
    if not ends:
        return "stream did not end properly"
    return None if deltas == tokens else f"{deltas} content deltas, expected {tokens}"


def _idle_cpu(pid: int, quiet_s: float = 0.3, timeout_s: float = 15.0) -> float:
    """The relay's CPU seconds once it stopped using CPU (settles finish after the streams)."""
    last = cpu_seconds(pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now == last:
            return now
        last = now
    return last


def measure(cells: list[tuple[int, int]], tokens: int, pace: float, workdir: Path, rounds: int = 3) -> dict[str, Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(DUMMY_AWS)
    two_cores = (os.cpu_count() or 1) >= 2
    relay_cpu, shared_cpu = (1, 0) if two_cores else (None, None)
    shared = None if shared_cpu is None else [shared_cpu]
    out: list[dict[str, Any]] = []
    with ExitStack() as stack:
        emulator = stack.enter_context(
            EmulatorProcess(
                workdir / "state", ROOT / "template.yaml", cpu=shared_cpu, extra_args=("--snapshot-interval", "100000")
            )
        )
        mock = stack.enter_context(MockProcess(MockConfig(latency_ms=20.0, tokens_per_s=0.0, log_size=8), cpus=shared))
        key = _seed(emulator.endpoint, mock.url, {"x-mock-tokens-per-s": f"{pace:g}"})
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
        env.update(TOLLWAY_AWS_ENDPOINT_URL=emulator.endpoint, PYTHONUNBUFFERED="1")
        relay = RelayProcess(env, cpu=relay_cpu, log_path=workdir / "relay.log").start()
        stack.callback(relay.stop)
        runner = stack.enter_context(asyncio.Runner())
        headers = {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
        }
        for concurrency, count in cells:
            per_cell: dict[str, list[dict[str, Any]]] = {name: [] for name in CELLS}
            for round_no in range(rounds):
                for name, (path, model, form) in CELLS.items():
                    run = _run_cell(
                        runner,
                        relay,
                        Target("relay", relay.url + path, headers),
                        payload(model, form, tokens),
                        form,
                        tokens,
                        concurrency,
                        count,
                    )
                    per_cell[name].append(run)
                    _say(
                        f"round {round_no + 1} C={concurrency:<3} {name:16} relay CPU {run['cpu_ms']:.2f} ms/stream"
                        + (f"  ERRORS {len(run['problems'])}: {run['problems'][:1]}" if run["problems"] else "")
                    )
            for name, runs in per_cell.items():
                cpu = sorted(r["cpu_ms"] for r in runs)
                problems = [p for r in runs for p in r["problems"]]
                out.append(
                    {
                        "cell": name,
                        "concurrency": concurrency,
                        "requests": count * rounds,
                        "errors": len(problems),
                        "error_examples": problems[:3],
                        "relay_cpu_ms_per_stream": statistics.median(cpu),
                        "relay_cpu_ms_per_stream_rounds": cpu,
                        "streams_per_s": statistics.median(r["streams_per_s"] for r in runs),
                    }
                )
    return {"tokens": tokens, "pace_tokens_per_s": pace, "pinned": two_cores, "cells": out}


def _run_cell(
    runner: asyncio.Runner,
    relay: RelayProcess,
    target: Target,
    body: bytes,
    form: str,
    tokens: int,
    concurrency: int,
    count: int,
) -> dict[str, Any]:
    client = LoadClient(concurrency)
    try:
        runner.run(client.run(target, body, stream=True, count=concurrency * 2))  # warm-up
        before = _idle_cpu(relay.pid)
        started = time.perf_counter()
        samples = runner.run(client.run(target, body, stream=True, count=count))
        wall = time.perf_counter() - started
        after = _idle_cpu(relay.pid)
    finally:
        runner.run(client.aclose())
    problems = [p for s in samples if (p := problem(s, form, tokens))]
    return {"cpu_ms": (after - before) * 1000 / count, "streams_per_s": count / wall, "problems": problems}


def _chat_stream(tokens: int) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": tokens}}
    words = [chunk({"content": " word"}) for _ in range(tokens)]
    tail = [chunk({}, "stop"), b"data: " + orjson.dumps(usage) + b"\n\n", b"data: [DONE]\n\n"]
    return [chunk({"role": "assistant", "content": ""}), *words, *tail]


def _claude_stream(tokens: int) -> list[bytes]:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " word"}}
    start = {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 10, "output_tokens": 1}}}
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": tokens}}
    return [
        claude_event("message_start", start),
        claude_event("content_block_start", block),
        *[claude_event("content_block_delta", delta) for _ in range(tokens)],
        claude_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        claude_event("message_delta", end),
        claude_event("message_stop", {"type": "message_stop"}),
    ]


def meter_costs(tokens: int, streams: int = 2000) -> dict[str, float]:
    """µs of CPU per stream for the SSE parser + each cell's meter (best of three runs)."""
    chat, claude = _chat_stream(tokens), _claude_stream(tokens)
    meters: dict[str, tuple[Callable[[], Any], list[bytes]]] = {
        "openai": (lambda: chat_meter(True, None), chat),
        "claude native": (ClaudeMeter, claude),
        "chat→claude": (lambda: ClaudeToChatMeter(model="m", created=1, client_wants_usage=True), claude),
        "messages→openai": (lambda: ChatToClaudeMeter(model="m", message_id="msg", input_estimate=1), chat),
    }
    out: dict[str, float] = {}
    for name, (make, chunks) in meters.items():
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for _ in range(streams):
                meter, parser = make(), SSEParser()
                for raw in chunks:
                    for event in parser.feed(raw):
                        meter.on_event(event)
            best = min(best, (time.process_time() - started) / streams * 1e6)
        out[name] = best
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        "| C | cell | relay CPU ms/stream (median) | rounds | vs openai | streams/s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    reference = {c["concurrency"]: c["relay_cpu_ms_per_stream"] for c in result["cells"] if c["cell"] == "openai"}
    for c in result["cells"]:
        ratio = c["relay_cpu_ms_per_stream"] / reference[c["concurrency"]] - 1
        lines.append(
            f"| {c['concurrency']} | {c['cell']} | {c['relay_cpu_ms_per_stream']:.2f} | "
            f"{' / '.join(f'{v:.1f}' for v in c['relay_cpu_ms_per_stream_rounds'])} | {ratio:+.0%} | "
            f"{c['streams_per_s']:.1f} | {c['errors']} |"
        )
    meters = result.get("meter_us_per_stream") or {}
    if meters:
        lines += ["", "| cell | parser + meter µs/stream (in-process) | vs openai |", "|---|---|---|"]
        lines += [f"| {k} | {v:.0f} | {v / meters['openai'] - 1:+.0%} |" for k, v in meters.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.claude", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="1:40,16:320", help="CONCURRENCY:STREAMS,... (default 1:40,16:320)")
    parser.add_argument("--tokens", type=int, default=40, help="content chunks per stream (default 40)")
    parser.add_argument("--pace", type=float, default=200.0, help="upstream tokens per second (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell; the median is reported")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/claude-<UTC time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ns = parser.parse_args(argv)
    cells = [(int(c), int(n)) for c, _, n in (part.partition(":") for part in ns.cells.split(","))]
    workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-claude-"))
    try:
        result = measure(cells, ns.tokens, ns.pace, workdir, ns.rounds)
    finally:
        if ns.keep:
            _say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["meter_us_per_stream"] = meter_costs(ns.tokens)
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = ns.out or RESULTS / f"claude-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    _say(f"results: {out}")
    return 1 if any(c["errors"] for c in result["cells"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
