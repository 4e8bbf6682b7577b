"""`python -m bench.ladder [--quick] [--steps 16,64,256,512,1024] [--store-latency-ms 5] [--env K=V]`.

The concurrency ladder: one relay process (the product's ASGI app, uvicorn, one worker, uvloop +
httptools as on Lambda) holding C concurrent 10-second streams from the mock upstream, C stepped up.
The stores are the stand-in of `bench/standin.py` (a fixed round trip per call), so the relay, not
the emulator, is what is measured. Everything on loopback:

    load generator ──▶ client tap ──▶ relay ──▶ upstream tap ──▶ mock

Per step, over a steady-state window (the streams' starts are spread over one stream length, then
one stream length passes before the window opens): relay CPU per stream (CPU seconds / content
chunks forwarded × chunks per stream), per-chunk forwarding delay (the taps' kernel/wire times,
`bench/tcptap.py`), TTFT at the client, relay RSS, open sockets, errors (each answer checked whole).

Prints a Markdown table on stdout, progress on stderr, writes JSON to bench/results/ladder-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import uvloop
from tollway_local.mock import MockConfig, MockProcess

from bench.load import Sample, chat_payload, check
from bench.procs import RelayProcess, cpu_seconds, memory_bytes
from bench.seed import MODEL
from bench.sse import content_token, timed_events
from bench.stats import summary
from bench.tcptap import TcpTap, _token_times, chunk_delays, listening_socket

__all__ = ["main", "open_sockets"]

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = (16, 64, 256, 512, 1024)
QUICK_STEPS = (16, 64, 256)


def open_sockets(pid: int) -> int:
    """Sockets among a process's open file descriptors."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                count += 1
    return count


def _listening() -> socket.socket:
    """A tap's listening socket with room for every connection of the largest step arriving at once."""
    sock = listening_socket()
    sock.listen(4096)
    return sock


@contextlib.contextmanager
def _cpu_quota(pid: int, share: float, period_ms: float) -> Iterator[None]:
    """Run `pid` (all its threads) under a CFS bandwidth limit of `share` of one CPU, as Lambda gives a
    function CPU in proportion to its memory (1,769 MB = one vCPU). cgroup v1, root only."""
    group = Path(f"/sys/fs/cgroup/cpu/bench-ladder-{os.getpid()}")
    group.mkdir()
    try:
        period_us = int(period_ms * 1000)
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(int(period_us * share)))
        (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        with contextlib.suppress(OSError):  # the relay may have exited already
            Path("/sys/fs/cgroup/cpu/cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            group.rmdir()


def _loadavg() -> list[float]:
    with open("/proc/loadavg", encoding="ascii") as f:
        return [float(v) for v in f.read().split()[:3]]


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Ladder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.chunks: int = args.chunks
        self.stream_s: float = args.stream_s
        self.payload = chat_payload(MODEL, self.chunks, stream=True)

    async def run(self) -> dict[str, Any]:
        a = self.a
        results: dict[str, Any] = {
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "options": {
                "steps": a.steps,
                "stream_s": self.stream_s,
                "chunks_per_stream": self.chunks,
                "mock_first_token_ms": a.first_token_ms,
                "store_latency_ms": a.store_latency_ms,
                "store_cpu_ms": a.store_cpu_ms,
                "window_streams": a.window_streams,
                "env": a.env,
            },
            "machine": {"cpus": os.cpu_count(), "loadavg_start": _loadavg()},
            "steps": [],
        }
        with contextlib.ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ladder-")))
            mock = stack.enter_context(
                MockProcess(MockConfig(latency_ms=a.first_token_ms, tokens_per_s=0.0, log_size=8))
            )
            up_tap = TcpTap(_listening(), "127.0.0.1", int(mock.url.rsplit(":", 1)[1]))
            await up_tap.start()
            seed_out = work / "seed.json"
            env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
            env.update(
                {
                    "PYTHONUNBUFFERED": "1",
                    "LADDER_UPSTREAM": mock.base_url if a.no_taps else up_tap.base_url,
                    "LADDER_STREAM_PACE": f"{self.chunks / self.stream_s:g}",
                    "LADDER_STORE_LATENCY_MS": f"{a.store_latency_ms:g}",
                    "LADDER_STORE_CPU_MS": f"{a.store_cpu_ms:g}",
                    "LADDER_SEED_OUT": str(seed_out),
                    "TOLLWAY_HEARTBEAT_S": "15",
                }
            )
            env.update(dict(kv.split("=", 1) for kv in a.env))
            relay = RelayProcess(env, cpu=None, log_path=work / "relay.log", factory="bench.ladder_app:app_from_env")
            try:
                relay.start()
            except RuntimeError as exc:
                raise SystemExit(f"relay: {exc}\n{relay.log_tail()}") from exc
            stack.callback(relay.stop)
            if a.cpu_share is not None:
                stack.enter_context(_cpu_quota(relay.pid, a.cpu_share, a.cfs_period_ms))
                results["options"]["cpu_share"] = a.cpu_share
                results["options"]["cfs_period_ms"] = a.cfs_period_ms
            client_tap = TcpTap(_listening(), "127.0.0.1", relay.port)
            await client_tap.start()
            seed = json.loads(seed_out.read_text())
            url = f"{relay.url if a.no_taps else client_tap.url}/v1/chat/completions"
            headers = {"authorization": f"Bearer {seed['key']}", "content-type": "application/json"}
            try:
                _say("warm-up: 8 streams")
                await self._step(8, url, headers, relay, mock.pid, up_tap, client_tap, measure=False)
                for c in a.steps:
                    out = await self._step(c, url, headers, relay, mock.pid, up_tap, client_tap, measure=True)
                    results["steps"].append(out)
                    _say(_line(out))
            finally:
                await client_tap.close()
                await up_tap.close()
            relay.stop()
            calls = work / "seed.json.calls"
            if calls.exists():  # written by the stand-in at exit (bench/ladder_app.py)
                counted = json.loads(calls.read_text())
                results["store_calls"] = counted
                streams = counted.get("requests") or 0
                results["store_calls_per_request"] = counted["calls"] / streams if streams else None
            results["relay_log_tail"] = relay.log_tail(2000)
        results["machine"]["loadavg_end"] = _loadavg()
        return results

    async def _step(
        self,
        c: int,
        url: str,
        headers: dict[str, str],
        relay: RelayProcess,
        mock_pid: int,
        up_tap: TcpTap,
        client_tap: TcpTap,
        *,
        measure: bool,
    ) -> dict[str, Any]:
        stop = asyncio.Event()
        samples: list[Sample] = []
        limits = httpx2.Limits(max_connections=c, max_keepalive_connections=c)
        async with httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(120.0), trust_env=False) as client:
            in_flight = 0

            async def one() -> None:
                nonlocal in_flight
                in_flight += 1
                sample = Sample(start=time.perf_counter())
                try:
                    async with client.stream("POST", url, content=self.payload, headers=headers) as r:
                        sample.status = r.status_code
                        async for chunk in r.aiter_raw():
                            sample.chunks.append((time.perf_counter(), chunk))
                except httpx2.HTTPError as exc:
                    sample.error = f"{type(exc).__name__}: {exc}"
                sample.end = time.perf_counter()
                samples.append(sample)
                in_flight -= 1

            async def worker(i: int) -> None:
                # spread the starts over one stream length: a steady state, not a thundering herd
                await asyncio.sleep(i * self.stream_s / c)
                while not stop.is_set():
                    await one()

            tasks = [asyncio.create_task(worker(i)) for i in range(c)]
            if not measure:
                await asyncio.sleep(self.stream_s * 1.5)
                stop.set()
                await asyncio.gather(*tasks)
                return {}
            await asyncio.sleep(self.stream_s * 1.2)  # ramp (one stream length) + settle
            for tap in (up_tap, client_tap):
                tap.reset()
                tap.recording = True
            loadavg0 = _loadavg()
            cpu0, t0 = cpu_seconds(relay.pid), time.perf_counter()
            mock0, own0 = cpu_seconds(mock_pid), cpu_seconds(os.getpid())
            window = self.a.window_streams * self.stream_s
            sockets: list[int] = []
            flying: list[int] = []
            rss: list[int] = []
            while time.perf_counter() - t0 < window:
                await asyncio.sleep(min(1.0, window / 4))
                sockets.append(open_sockets(relay.pid))
                flying.append(in_flight)
                rss.append(memory_bytes(relay.pid).get("VmRSS", 0))
            cpu1, t1 = cpu_seconds(relay.pid), time.perf_counter()
            mock1, own1 = cpu_seconds(mock_pid), cpu_seconds(os.getpid())
            for tap in (up_tap, client_tap):
                tap.recording = False
            stop.set()
            await asyncio.gather(*tasks)
        up_reads, client_reads = up_tap.reads, client_tap.reads
        up_tap.reset()
        client_tap.reset()
        delays = chunk_delays(up_reads, client_reads)
        tokens = len(_token_times(client_reads, kernel=True))
        streams = tokens / self.chunks
        in_window = [s for s in samples if t0 <= s.start <= t1]
        errors = [
            f"{why} (status {s.status}, after {len(s.chunks)} reads, {s.end - s.start:.1f} s)"
            for s in samples
            if (why := check(s, stream=True, tokens=self.chunks)) is not None
        ]
        ttft: list[float] = []
        for s in in_window:
            first = next((e.t for e in timed_events(s.chunks) if content_token(e)), None)
            if first is not None:
                ttft.append((first - s.start) * 1000)
        cpu = cpu1 - cpu0
        memory = memory_bytes(relay.pid)
        return {
            "concurrency": c,
            "window_s": t1 - t0,
            "streams_total": len(samples),
            "stream_equivalents_in_window": streams,
            "relay_cpu_s": cpu,
            "relay_core_util": cpu / (t1 - t0),
            # the harness: if either is near 1.0 core, the ladder measures its own limit, not the relay's
            "mock_core_util": (mock1 - mock0) / (t1 - t0),
            "loadgen_core_util": (own1 - own0) / (t1 - t0),
            "streams_in_flight_min": min(flying, default=0),
            "cpu_ms_per_stream": cpu * 1000 / streams if streams else float("nan"),
            "cpu_us_per_chunk": cpu * 1e6 / tokens if tokens else float("nan"),
            "chunk_delay_ms": delays["later_tokens_ms"],
            "first_token_delay_ms": delays["first_token_ms"],
            "chunks_matched": delays["matched"],
            "chunks_unmatched": delays["unmatched"],
            "ttft_ms": summary(ttft),
            "rss_mb_max": max(rss, default=0) / 2**20,
            "vmhwm_mb": memory.get("VmHWM", 0) / 2**20,
            "open_sockets_max": max(sockets, default=0),
            "errors": len(errors),
            "error_examples": errors[:8],
            "loadavg": [loadavg0, _loadavg()],
        }


def _line(s: dict[str, Any]) -> str:
    d, t = s["chunk_delay_ms"], s["ttft_ms"]
    return (
        f"C={s['concurrency']}: CPU {s['cpu_ms_per_stream']:.2f} ms/stream (core {s['relay_core_util']:.2f}), "
        f"chunk p50/p99 {d['p50']:.2f}/{d['p99']:.2f} ms, TTFT p50/p99 {t['p50']:.1f}/{t['p99']:.1f} ms, "
        f"RSS {s['rss_mb_max']:.0f} MB, sockets {s['open_sockets_max']}, errors {s['errors']}; "
        f"in flight ≥ {s['streams_in_flight_min']}, mock core {s['mock_core_util']:.2f}, "
        f"load generator core {s['loadgen_core_util']:.2f}"
    )


def render(results: dict[str, Any]) -> str:
    """The ladder as a Markdown table, and the verdict: the largest C within 20% of C=16's CPU per
    stream (the first step's, if 16 was not run) with chunk p99 ≤ 5 ms."""
    steps: Sequence[dict[str, Any]] = results["steps"]
    lines = [
        "| C | relay CPU ms/stream (µs/chunk) | core util | chunk delay p50 / p99 ms | TTFT p50 / p99 ms "
        "| RSS MB | open sockets | errors |",
        "|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for s in steps:
        d, t = s["chunk_delay_ms"], s["ttft_ms"]
        lines.append(
            f"| {s['concurrency']} | {s['cpu_ms_per_stream']:.2f} ({s['cpu_us_per_chunk']:.0f}) "
            f"| {s['relay_core_util']:.2f} "
            f"| {d['p50']:.2f} / {d['p99']:.2f} | {t['p50']:.1f} / {t['p99']:.1f} "
            f"| {s['rss_mb_max']:.0f} | {s['open_sockets_max']} | {s['errors']} |"
        )
    if results.get("store_calls_per_request") is not None:
        lines.append("")
        lines.append(f"store calls per request (stand-in count): {results['store_calls_per_request']:.2f}")
    if steps:
        base = steps[0]["cpu_ms_per_stream"]
        flat = [
            s["concurrency"]
            for s in steps
            if s["cpu_ms_per_stream"] <= 1.2 * base and s["chunk_delay_ms"]["p99"] <= 5.0 and s["errors"] == 0
        ]
        verdict = f"largest C within 20% of C={steps[0]['concurrency']}'s CPU per stream, chunk p99 ≤ 5 ms, no errors: "
        lines.append("")
        lines.append(verdict + (str(max(flat)) if flat else "none"))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ladder", description=__doc__.split("\n\n")[1])
    p.add_argument(
        "--quick", action="store_true", help=f"3-second streams of 12 chunks (the same pace), steps {QUICK_STEPS}"
    )
    p.add_argument("--steps", help="comma-separated concurrencies (default 16,64,256,512,1024)")
    p.add_argument("--stream-s", type=float, help="seconds per stream (default 10; --quick 3)")
    p.add_argument("--chunks", type=int, help="content chunks per stream (default 40; --quick 12)")
    p.add_argument("--first-token-ms", type=float, default=200.0, help="the mock's wait before the first token")
    p.add_argument("--store-latency-ms", type=float, default=10.0, help="stand-in round trip per store call")
    p.add_argument(
        "--store-cpu-ms", type=float, default=1.2, help="stand-in CPU per store call in the relay (boto3's share)"
    )
    p.add_argument(
        "--cpu-share",
        type=float,
        help="limit the relay to this share of one CPU (Lambda: memory MB / 1769), cgroup v1, root",
    )
    p.add_argument("--cfs-period-ms", type=float, default=20.0, help="the CPU limit's accounting period")
    p.add_argument("--no-taps", action="store_true", help="no taps (no chunk delays): load → relay → mock")
    p.add_argument("--nice", type=int, help="run the ladder and its children at niceness N (e.g. -10, as root)")
    p.add_argument("--window-streams", type=float, default=2.0, help="window length in stream lengths")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra relay environment")
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/ladder-<time>.json)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.steps = [int(v) for v in args.steps.split(",")] if args.steps else list(QUICK_STEPS if args.quick else STEPS)
    if args.stream_s is None:
        args.stream_s = 3.0 if args.quick else 10.0
    if args.chunks is None:
        args.chunks = 12 if args.quick else 40
    if args.nice is not None:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # before any child starts: they inherit it
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(Ladder(args).run())
    out = args.out or RESULTS / f"ladder-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(render(results))
    _say(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
