"""The benchmark run: start the stack, seed, measure every cell, count store calls, tear down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from tollway_local.emulator import EmulatorProcess
from tollway_local.mock import MockConfig, MockProcess

from bench import coldstart
from bench.capacity import TableSchema
from bench.costmodel import cost_per_1000, prices_json
from bench.ddbtap import DynamoTap, analyse, by_phase
from bench.floor import compare as compare_with_floor
from bench.load import STOP, LoadClient, Sample, Target, chat_payload, check, latency_figures
from bench.measure import Probe, quiesce
from bench.procs import CLOCK_TICKS_PER_S, DUMMY_AWS, RelayProcess, core_times, memory_bytes
from bench.relay_profile import summarize as summarize_profile
from bench.rounds import merge_rounds, split
from bench.seed import MODEL, Seeded, preload_history, seed_lanes, services_for
from bench.tcptap import TcpTap, chunk_delays, listening_socket

__all__ = ["BenchError", "Options", "Run", "floor_costs"]

ROOT = Path(__file__).resolve().parents[1]
RELAY_CPU = 1
SHARED_CPU = 0


#: The template's RelayMemorySize default (docs/cost.md: the smallest that kept the latency figures).
RELAY_MEMORY_MB = 256


class BenchError(RuntimeError):
    """The stack could not be brought up or did not answer correctly before measuring."""


@dataclass
class Options:
    cells: list[tuple[int, int]]
    modes: tuple[str, ...] = ("ns", "stream")
    tokens: int = 40  # completion tokens per answer (40 content chunks per stream)
    latency_ms: float = 20.0  # the mock's wait before the first token (and before a non-streaming answer)
    stream_tokens_per_s: float = 200.0  # stream pace: 5 ms between tokens
    preload: int = 10_000
    count_requests: int = 20  # per counting variant (sequential, with a pause after each)
    tap_cells: list[tuple[int, int]] = field(default_factory=lambda: [(1, 40), (16, 320)])
    import_repeats: int = 5
    warmup_extra: int = 16  # warm-up requests per cell: concurrency + this
    profile: bool = False
    profile_requests: int = 1200
    keep: bool = False
    wait_quiet_s: float = 0.0  # wait up to this long for both cores to be idle before starting
    nice: int | None = None  # scheduling niceness of the benchmark and every child (negative needs root)
    relay_rt: int | None = None  # run the relays under SCHED_FIFO at this priority (root only)
    gc_watch: bool = False  # run the main relay under bench.relay_gc and report its GC pauses
    emulator_copy_tables: bool = False  # the emulator's transactions as moto ships them (a before/after)
    store_client: str | None = None  # the relay's TOLLWAY_STORE_CLIENT (None: the setting's default)
    floor: bool = True  # also measure the passthrough floor (bench/floor_app.py) beside the relay
    settle_before_answer: bool = False  # the Lambda configuration: a non-streaming answer waits for its settle
    cells_only: bool = False  # only the load cells (and ratios, validation): no cold start, chunk, store, cost
    rounds: int = 1  # the floor's and the relay's cells of each C in this many alternating rounds
    log: Any = None  # progress lines go here (stderr)


def _say(options: Options, text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=options.log or sys.stderr, flush=True)


def busy_fraction(seconds: float = 2.0) -> tuple[float, float]:
    """How busy each core was over the next `seconds` (work of other processes: nothing of ours runs yet)."""
    start = (core_times(0), core_times(1))
    time.sleep(seconds)
    d0, d1 = core_times(0) - start[0], core_times(1) - start[1]
    return (d0.busy / d0.total if d0.total else 0.0, d1.busy / d1.total if d1.total else 0.0)


def wait_until_quiet(options: Options, *, threshold: float = 0.1) -> dict[str, Any]:
    """Sample both cores; with `wait_quiet_s`, keep waiting until both are below `threshold` busy."""
    deadline = time.monotonic() + options.wait_quiet_s
    while True:
        busy = busy_fraction()
        quiet = max(busy) < threshold
        if quiet or time.monotonic() >= deadline:
            if not quiet:
                _say(
                    options,
                    f"WARNING: the machine is busy before the run (CPU0 {busy[0]:.0%}, CPU1 {busy[1]:.0%} used by "
                    "other processes): figures will be noisy; see 'CPU1 other' in the tables",
                )
            return {"core0_busy_before": busy[0], "core1_busy_before": busy[1], "quiet": quiet}
        _say(options, f"waiting for a quiet machine (CPU0 {busy[0]:.0%}, CPU1 {busy[1]:.0%} busy)")
        time.sleep(3)


def gc_summary(path: Path) -> dict[str, Any]:
    """Collections and pause times by generation, from bench.relay_gc's file."""
    if not path.exists():
        return {"available": False}
    data = json.loads(path.read_text())
    out: dict[str, Any] = {"available": True, "frozen_objects": data.get("frozen", 0), "generations": {}}
    for generation in (0, 1, 2):
        pauses = [ms for g, ms in data["pauses"] if g == generation]
        out["generations"][str(generation)] = {
            "collections": len(pauses),
            "max_ms": max(pauses, default=0.0),
            "total_ms": sum(pauses),
            "over_10ms": sum(1 for p in pauses if p > 10),
        }
    return out


def floor_costs(costs: dict[str, Any]) -> dict[str, Any]:
    """A floor cell's costs under the floor's name: the probe measured the floor's process as it measures
    the relay's (`relay_cpu_ms_per_request` → `floor_cpu_ms_per_request`, and so on)."""
    return {("floor_" + k[len("relay_") :] if k.startswith("relay_") else k): v for k, v in costs.items()}


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
        "git_commit": commit,
        "git_dirty": bool(dirty),
    }


class Run:
    """One benchmark run. `execute()` returns the results document (errors included, never raised
    for a bad response: those are counted and reported)."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-"))
        self.results: dict[str, Any] = {"errors_total": 0}
        self.sent: dict[str, int] = {}  # account id -> requests sent through a relay (for the record count)
        self.samples_for_records: list[tuple[str, str]] = []  # (account id, request id) to check
        self._stack = contextlib.ExitStack()
        self._runner: asyncio.Runner | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        STOP.clear()
        try:
            self._execute()
        finally:
            self._teardown()
        return self.results

    def _teardown(self) -> None:
        _say(self.o, "stopping the relay, the mock and the emulator")
        # A second Ctrl-C must not leave children behind: finish stopping them first.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        STOP.set()
        try:
            self._stack.close()
        finally:
            if not self.o.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
            else:
                _say(self.o, f"kept {self.workdir}")
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def arun(self, coro: Any) -> Any:
        """Run `coro` on the benchmark's event loop (taps and load generator live there between calls)."""
        assert self._runner is not None
        loop = self._runner.get_loop()
        task = loop.create_task(coro)
        try:
            return loop.run_until_complete(task)
        except BaseException:
            # Ctrl-C arrives as KeyboardInterrupt inside the task: collect it, so asyncio does not
            # print "Task exception was never retrieved"; a task still running is cancelled.
            if task.done():
                if not task.cancelled():
                    task.exception()
            else:
                task.cancel()
            raise

    def _execute(self) -> None:
        o = self.o
        self.results["machine"] = machine_info()
        self.results["options"] = {
            "cells": o.cells,
            "modes": list(o.modes),
            "tokens": o.tokens,
            "mock_latency_ms": o.latency_ms,
            "stream_tokens_per_s": o.stream_tokens_per_s,
            "preloaded_items": 2 * o.preload,
            "model": MODEL,
            "emulator_transactions": "moto copies tables" if o.emulator_copy_tables else "undo log",
            "store_client": o.store_client or "default",
            "floor": o.floor,
            "settle": "before the answer (Lambda)" if o.settle_before_answer else "after the answer",
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        os.environ.update(DUMMY_AWS)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}

        self.results["machine"]["preflight"] = wait_until_quiet(o)
        if o.nice is not None:
            # before any child starts: they inherit it (a shared machine's other work yields to the benchmark)
            os.setpriority(os.PRIO_PROCESS, 0, o.nice)
            self.results["options"]["nice"] = o.nice
        self.results["options"]["relay_rt"] = o.relay_rt
        if not o.cells_only:
            _say(o, "cold start: import times (CPU 1) and package sizes")
            self.results["import_times"] = coldstart.import_times(
                base_env, repeats=o.import_repeats, cpu=RELAY_CPU, rt_priority=o.relay_rt
            )
            self.results["package_sizes"] = coldstart.package_sizes(ROOT / ".aws-sam" / "build")

        os.sched_setaffinity(0, {SHARED_CPU})
        self._runner = self._stack.enter_context(asyncio.Runner(loop_factory=uvloop.new_event_loop))
        emulator = self._stack.enter_context(
            EmulatorProcess(
                self.workdir / "state",
                ROOT / "template.yaml",
                cpu=SHARED_CPU,
                # snapshots are the local stack's durability, not the store's cost: write them rarely
                extra_args=("--snapshot-interval", "100000", *(("--copy-tables",) if o.emulator_copy_tables else ())),
            )
        )
        mock = self._stack.enter_context(
            MockProcess(MockConfig(latency_ms=o.latency_ms, tokens_per_s=0.0, log_size=8), cpus=[SHARED_CPU])
        )
        self.emulator, self.mock = emulator, mock
        mock_port = int(mock.url.rsplit(":", 1)[1])
        self.tap = TcpTap(listening_socket(), "127.0.0.1", mock_port)
        self.arun(self.tap.start())
        self._stack.callback(lambda: self.arun(self.tap.close()))

        _say(o, f"seeding; preloading {o.preload} usage records + {o.preload} ledger entries")
        services = services_for(emulator.endpoint)
        pace = {"x-mock-tokens-per-s": f"{o.stream_tokens_per_s:g}"}
        started = time.perf_counter()
        self.seeded: Seeded = seed_lanes(
            services,
            base_urls={
                "ns": mock.base_url,
                "st": mock.base_url,
                "tapns": self.tap.base_url,
                "tapst": self.tap.base_url,
            },
            headers={"st": pace, "tapst": pace},
        )
        self.ddb = emulator.client("dynamodb")
        items = preload_history(self.ddb, records=o.preload, now_ms=int(time.time() * 1000)) if o.preload else 0
        emulator.gc_freeze()
        self.results["seed"] = {"preloaded_items": items, "seconds": time.perf_counter() - started}

        self.relay_env = {
            **base_env,
            "TOLLWAY_AWS_ENDPOINT_URL": emulator.endpoint,
            # the relay's default (local stack, volume mode) answers before its settle; Lambda's template
            # sets false, which --settle-before-answer measures
            "TOLLWAY_SETTLE_AFTER_ANSWER": "false" if o.settle_before_answer else "true",
            "PYTHONUNBUFFERED": "1",
        }
        if o.store_client is not None:
            self.relay_env["TOLLWAY_STORE_CLIENT"] = o.store_client
        gc_out = self.workdir / "relay-gc.json"
        relay = self._start_relay(
            "relay",
            {**self.relay_env, "BENCH_GC_OUT": str(gc_out)} if o.gc_watch else self.relay_env,
            wrapper="bench.relay_gc" if o.gc_watch else None,
        )
        self.relay = relay
        self.floor = self._start_floor() if o.floor else None
        self.targets = self._targets()
        self._warm_up()

        self._load_cells()
        memory = memory_bytes(relay.pid)
        self.results["relay_memory"] = {"peak_vmhwm_bytes": memory.get("VmHWM"), "end_vmrss_bytes": memory.get("VmRSS")}
        if self.floor:
            memory = memory_bytes(self.floor.pid)
            self.results["floor"] = {
                "app": "bench.floor_app",
                "start_to_ready_s": self.floor.ready_s,
                "peak_vmhwm_bytes": memory.get("VmHWM"),
                "end_vmrss_bytes": memory.get("VmRSS"),
            }
            self.results["floor_comparison"] = compare_with_floor(
                self.results.get("cells", []), tick_ms=1000 / CLOCK_TICKS_PER_S
            )

        if "stream" in o.modes and not o.cells_only:
            self._chunk_cells()
        if o.gc_watch:
            relay.stop()
            self.results["relay_gc"] = gc_summary(gc_out)
        if not o.cells_only:
            self._count_store_calls()
        if o.profile:
            self._profile()
        self._validate_records()
        if not o.cells_only:
            self._cost_model()

    def _start_relay(self, name: str, env: dict[str, str], wrapper: str | None = None) -> RelayProcess:
        relay = RelayProcess(
            env, cpu=RELAY_CPU, log_path=self.workdir / f"{name}.log", wrapper=wrapper, rt_priority=self.o.relay_rt
        )
        return self._launch(name, relay)

    def _launch(self, name: str, process: RelayProcess) -> RelayProcess:
        """Start a relay (or the floor), stopped with the run; a failed start reports its log's tail."""
        try:
            process.start()
        except RuntimeError as exc:
            raise BenchError(f"{name}: {exc}\n{process.log_tail()}") from exc
        self._stack.callback(process.stop)
        return process

    def _start_floor(self, profile_out: Path | None = None) -> RelayProcess:
        """The passthrough floor on the relay's core, started and pinned exactly as the relay is (under
        the relay's profiler when `profile_out` is given)."""
        self.floor_key = "sk-floor-bench"
        env = {
            **self.relay_env,
            "FLOOR_KEY": self.floor_key,
            "FLOOR_UPSTREAM": self.mock.base_url,
            "FLOOR_UPSTREAM_KEY": "k",
            "FLOOR_STREAM_HEADERS": json.dumps({"x-mock-tokens-per-s": f"{self.o.stream_tokens_per_s:g}"}),
        }
        if profile_out is not None:
            env["BENCH_PROFILE_OUT"] = str(profile_out)
        floor = RelayProcess(
            env,
            cpu=RELAY_CPU,
            log_path=self.workdir / ("floor.log" if profile_out is None else f"{profile_out.stem}.log"),
            rt_priority=self.o.relay_rt,
            factory="bench.floor_app:app_from_env",
            wrapper="bench.relay_profile" if profile_out is not None else None,
        )
        return self._launch("floor", floor)

    # ---- load ------------------------------------------------------------------------------------

    def relay_target(self, lane: str, *, limited: bool = False, url: str | None = None) -> Target:
        """Requests through a relay (the main one unless `url`) with a lane's unlimited or limited key."""
        found = self.seeded[lane]
        key = found.limited_key if limited else found.key
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        return Target("relay", f"{url or self.relay.url}/v1/chat/completions", headers, account=found.account_id)

    def _targets(self) -> dict[tuple[str, str], Target]:
        mock_headers = {"authorization": "Bearer k", "content-type": "application/json"}
        stream_pace = {"x-mock-tokens-per-s": f"{self.o.stream_tokens_per_s:g}"}
        url = f"{self.mock.base_url}/chat/completions"
        targets = {
            ("direct", "ns"): Target("direct", url, mock_headers),
            ("direct", "stream"): Target("direct", url, {**mock_headers, **stream_pace}),
            ("relay", "ns"): self.relay_target("ns"),
            ("relay", "stream"): self.relay_target("st"),
        }
        if self.floor:
            floor_url = f"{self.floor.url}/v1/chat/completions"
            floor_headers = {"authorization": f"Bearer {self.floor_key}", "content-type": "application/json"}
            targets[("floor", "ns")] = targets[("floor", "stream")] = Target("floor", floor_url, floor_headers)
        return targets

    def _lane_of(self, mode: str) -> str:
        return "st" if mode == "stream" else "ns"

    def _load(self, client: LoadClient, target: Target, mode: str, count: int) -> list[Sample]:
        stream = mode == "stream"
        payload = chat_payload(MODEL, self.o.tokens, stream=stream)
        samples: list[Sample] = self.arun(client.run(target, payload, stream=stream, count=count))
        if target.account is not None:
            self.sent[target.account] = self.sent.get(target.account, 0) + count
        return samples

    def _errors(self, samples: list[Sample], mode: str) -> tuple[int, list[str]]:
        problems = [p for s in samples if (p := check(s, stream=mode == "stream", tokens=self.o.tokens))]
        self.results["errors_total"] += len(problems)
        return len(problems), problems[:3]

    def _warm_up(self) -> None:
        client = LoadClient(4)
        servers = [("relay", self.relay)] + ([("floor", self.floor)] if self.floor else [])
        try:
            for mode in self.o.modes:
                for kind, process in servers:
                    samples = self._load(client, self.targets[(kind, mode)], mode, 8)
                    errors, examples = self._errors(samples, mode)
                    if errors:
                        raise BenchError(
                            f"warm-up {kind} {mode} failed: {examples}\n{kind} log (tail):\n{process.log_tail()}"
                        )
        finally:
            self.arun(client.aclose())

    def _load_cells(self) -> None:
        """Direct, floor and relay back to back for each C: the ratios compare neighbours in time. With
        rounds, the floor's and the relay's cells alternate in shorter rounds (bench/rounds.py)."""
        o = self.o
        for concurrency, count in o.cells:
            for mode in o.modes:
                self._record(self._measure(mode, concurrency, count, "direct"))
                if self.floor is None:
                    self._record(self._measure(mode, concurrency, count, "relay"))
                elif o.rounds <= 1:
                    for kind in ("floor", "relay"):
                        self._record(self._measure(mode, concurrency, count, kind))
                else:
                    self._alternate(mode, concurrency, count)

    def _alternate(self, mode: str, concurrency: int, count: int) -> None:
        """The floor's and the relay's cells as rounds in alternation, each merged into one cell."""
        rounds: dict[str, list[tuple[dict[str, Any], list[Sample]]]] = {"floor": [], "relay": []}
        for i, share in enumerate(split(count, self.o.rounds), 1):
            for kind in ("floor", "relay"):
                cell, samples = self._cell(mode, concurrency, share, kind)
                rounds[kind].append((cell, samples))
                _say(self.o, f"  round {i}: {self._line(cell)}")
        for kind in ("floor", "relay"):
            samples = [s for _, part in rounds[kind] for s in part]
            latency = latency_figures(samples, stream=mode == "stream")
            self._record(merge_rounds([cell for cell, _ in rounds[kind]], latency))

    def _measure(self, mode: str, concurrency: int, count: int, kind: str) -> dict[str, Any]:
        return self._cell(mode, concurrency, count, kind)[0]

    def _record(self, cell: dict[str, Any]) -> None:
        """Keep a measured cell in the results and say it."""
        self.results.setdefault("cells", []).append(cell)
        _say(self.o, self._line(cell))

    @staticmethod
    def _line(cell: dict[str, Any]) -> str:
        kind, mode, errors = cell["target"], cell["mode"], cell["errors"]
        lat = cell["latency"]
        key = "ttft_ms" if mode == "stream" else "total_ms"
        return (
            f"{kind:6} {mode:6} C={cell['concurrency']:<3} N={cell['requests']:<5} {cell['throughput_per_s']:7.1f}/s "
            f"{key} p50 {lat[key]['p50']:.1f} p99 {lat[key]['p99']:.1f}"
            + (f" relay CPU {cell['costs']['relay_cpu_ms_per_request']:.2f} ms/req" if kind == "relay" else "")
            + (f" floor CPU {cell['costs']['floor_cpu_ms_per_request']:.2f} ms/req" if kind == "floor" else "")
            + (f"  ERRORS {errors}" if errors else "")
        )

    def _cell(self, mode: str, concurrency: int, count: int, kind: str) -> tuple[dict[str, Any], list[Sample]]:
        """One measured cell (not yet recorded) and its samples."""
        o = self.o
        target = self.targets[(kind, mode)]
        relayed = kind == "relay"
        # The floor is measured exactly as the relay: its process's CPU over the same kind of window.
        measured = self.relay if relayed else self.floor if kind == "floor" else None
        probe = Probe(
            mock_pid=self.mock.pid,
            emulator_stats=self.emulator.stats,
            relay_pid=measured.pid if measured else None,
            relay_log=measured.log_path if measured else None,
        )
        client = LoadClient(concurrency)
        try:
            self._load(client, target, mode, concurrency + o.warmup_extra)  # opens connections, starts threads
            if measured:
                quiesce(lambda: int(self.emulator.stats()["requests"]))
            start = probe.read()
            samples = self._load(client, target, mode, count)
            if measured:
                quiesce(lambda: int(self.emulator.stats()["requests"]))
            end = probe.read()
        finally:
            self.arun(client.aclose())
        errors, examples = self._errors(samples, mode)
        first = min(s.start for s in samples)
        last = max(s.end for s in samples)
        cell: dict[str, Any] = {
            "target": kind,
            "mode": mode,
            "concurrency": concurrency,
            "requests": count,
            "errors": errors,
            "error_examples": examples,
            "throughput_per_s": count / (last - first),
            "response_bytes_mean": sum(len(s.body) + sum(len(c) for _, c in s.chunks) for s in samples) / count,
            "latency": latency_figures(samples, stream=mode == "stream"),
            "costs": floor_costs(Probe.delta(start, end, count)) if kind == "floor" else Probe.delta(start, end, count),
        }
        if kind == "floor" and self.floor:
            cell["floor_rss_bytes"] = memory_bytes(self.floor.pid).get("VmRSS")
        if relayed:
            cell["relay_rss_bytes"] = memory_bytes(self.relay.pid).get("VmRSS")
            good = [s for s in samples if s.request_id and s.status == 200]
            step = max(1, len(good) // 10)
            lane = self.seeded[self._lane_of(mode)]
            self.samples_for_records += [(lane.account_id, s.request_id or "") for s in good[::step][:10]]
        return cell, samples

    # ---- chunk forwarding --------------------------------------------------------------------------

    def _chunk_cells(self) -> None:
        """Streams through both taps: mock → upstream tap → relay → client tap → load generator."""
        client_tap = TcpTap(listening_socket(), "127.0.0.1", self.relay.port)
        self.arun(client_tap.start())
        self._stack.callback(lambda: self.arun(client_tap.close()))
        target = self.relay_target("tapst", url=client_tap.url)
        out: list[dict[str, Any]] = []
        for concurrency, count in self.o.tap_cells:
            client = LoadClient(concurrency)
            try:
                self._load(client, target, "stream", concurrency + self.o.warmup_extra)
                for tap in (self.tap, client_tap):
                    tap.reset()
                    tap.recording = True
                samples = self._load(client, target, "stream", count)
            finally:
                self.tap.recording = client_tap.recording = False
                self.arun(client.aclose())
            errors, examples = self._errors(samples, "stream")
            delays = chunk_delays(self.tap.reads, client_tap.reads)
            out.append(
                {"concurrency": concurrency, "requests": count, "errors": errors, "error_examples": examples, **delays}
            )
            self.tap.reset()
            client_tap.reset()
            _say(
                self.o,
                f"chunk taps C={concurrency}: later tokens p50 {delays['later_tokens_ms']['p50']:.3f} "
                f"p99 {delays['later_tokens_ms']['p99']:.3f} ms "
                f"(matched {delays['matched']}, unmatched {delays['unmatched']})",
            )
        self.results["chunk_forwarding"] = out

    # ---- store calls and write units ---------------------------------------------------------------

    def _schemas(self) -> dict[str, TableSchema]:
        names = self.ddb.list_tables()["TableNames"]
        return {name: TableSchema.from_describe(self.ddb.describe_table(TableName=name)["Table"]) for name in names}

    def _snapshot(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _count_store_calls(self) -> None:
        """A second relay whose store endpoint is the recording proxy; requests one at a time."""
        o = self.o
        _say(o, "counting store calls and write units (recording proxy, sequential requests)")
        schemas = self._schemas()
        ddbtap = DynamoTap(self.emulator.endpoint, self._snapshot, schemas)
        self.arun(ddbtap.start())
        self._stack.callback(lambda: self.arun(ddbtap.close()))
        env = {**self.relay_env, "TOLLWAY_AWS_ENDPOINT_URL": ddbtap.url}
        relay = self._start_relay("relay-count", env)
        result: dict[str, Any] = {"relay_start_to_ready_s": relay.ready_s}

        # cold: the new process's very first request (caches empty, boto3 not yet imported)
        self.tap.reset()
        self.tap.recording = True
        client = LoadClient(1)
        cold = self._load(client, self.relay_target("tapns", url=relay.url), "ns", 1)
        self.arun(ddbtap.idle())
        errors, _ = self._errors(cold, "ns")
        result["cold_first_request"] = {
            "latency_ms": (cold[0].end - cold[0].start) * 1000,
            "errors": errors,
            **analyse(ddbtap.calls, schemas, 1),
        }
        variants = [("ns", False), ("stream", False), ("ns", True), ("stream", True)]
        result["variants"] = {}
        try:
            for mode, limited in variants:
                lane = "tapst" if mode == "stream" else "tapns"
                target = self.relay_target(lane, limited=limited, url=relay.url)
                self._load(client, target, mode, 5)
                self.arun(ddbtap.idle())
                ddbtap.reset()
                self.tap.reset()
                samples: list[Sample] = []
                for _ in range(o.count_requests):
                    samples += self._load(client, target, mode, 1)
                    self.arun(ddbtap.idle(quiet_s=0.12))
                errors, examples = self._errors(samples, mode)
                starts = self.tap.upstream_starts()
                windows = [(s.start, next((t for t in starts if s.start <= t <= s.end), None), s.end) for s in samples]
                name = f"{mode}{'-limited-key' if limited else ''}"
                result["variants"][name] = {
                    "errors": errors,
                    "error_examples": examples,
                    **analyse(ddbtap.calls, schemas, len(samples)),
                    "phases": by_phase(ddbtap.calls, windows),
                }
                summary = result["variants"][name]
                _say(
                    o,
                    f"{name}: {summary['dynamodb_calls_per_request']:.2f} store calls, "
                    f"{summary['write_units_per_request']:.2f} WCU, "
                    f"{summary['reads_per_request']:.2f} reads per request",
                )
        finally:
            self.tap.recording = False
            self.arun(client.aclose())
            relay.stop()
        result["schemas"] = {
            name: {"keys": list(s.keys), "indexes": {i.name: [list(i.keys), i.projection] for i in s.indexes}}
            for name, s in schemas.items()
        }
        self.results["store"] = result

    # ---- profile -----------------------------------------------------------------------------------

    def _profile(self) -> None:
        o = self.o
        out: dict[str, Any] = {}
        # The floor under the same profiler beside the relay: the difference between the two profiles is
        # what billing costs, function by function.
        kinds = ("relay", "floor") if self.floor else ("relay",)
        for mode, kind in ((m, k) for m in o.modes for k in kinds):
            _say(o, f"profiling the {kind} under cProfile: {mode}, C=16, {o.profile_requests} requests")
            path = self.workdir / f"{kind}-{mode}.prof"
            name = mode if kind == "relay" else f"{kind} {mode}"
            if kind == "relay":
                env = {**self.relay_env, "BENCH_PROFILE_OUT": str(path)}
                relay = self._start_relay(f"relay-profile-{mode}", env, wrapper="bench.relay_profile")
            else:
                relay = self._start_floor(profile_out=path)
            client = LoadClient(16)
            try:
                base = self.targets[(kind, mode)]
                target = Target(kind, f"{relay.url}/v1/chat/completions", base.headers, account=base.account)
                self._load(client, target, mode, 64)
                samples = self._load(client, target, mode, o.profile_requests)
                self._errors(samples, mode)
            finally:
                self.arun(client.aclose())
                relay.stop(timeout_s=60)
            if path.exists():
                summary = summarize_profile(str(path))
                summary["requests"] = o.profile_requests + 64
                out[name] = summary
                if o.keep:
                    _say(o, f"profile: {path}")
        self.results["profile"] = out

    # ---- validation and cost ---------------------------------------------------------------------

    def _validate_records(self) -> None:
        """Every relayed request left exactly one usage record; sampled records carry the usage."""
        bad: list[str] = []
        for account, request_id in self.samples_for_records:
            item = self.ddb.get_item(
                TableName="UsageTable",
                Key={"account_id": {"S": account}, "request_id": {"S": request_id}},
                ConsistentRead=True,
            ).get("Item")
            if item is None:
                bad.append(f"{request_id}: no usage record")
            elif (
                item["status"]["S"] != "ok"
                or item.get("tokens", {}).get("M", {}).get("output", {}).get("N") != str(self.o.tokens)
                or int(item["charge"]["N"]) <= 0
            ):
                bad.append(f"{request_id}: record {item.get('status')} {item.get('tokens')} {item.get('charge')}")
        counts: dict[str, dict[str, int]] = {}
        for account, sent in self.sent.items():
            stored = 0
            kwargs: dict[str, Any] = {
                "TableName": "UsageTable",
                "KeyConditionExpression": "account_id = :a",
                "ExpressionAttributeValues": {":a": {"S": account}},
                "Select": "COUNT",
                "ConsistentRead": True,
            }
            while True:
                page = self.ddb.query(**kwargs)
                stored += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            counts[account] = {"sent": sent, "records": stored}
            if stored != sent:
                bad.append(f"{account}: {sent} requests sent through a relay, {stored} usage records")
        open_holds = self.ddb.scan(TableName="HoldsTable", Select="COUNT", ConsistentRead=True)["Count"]
        if open_holds:
            bad.append(f"{open_holds} holds left open")
        self.results["validation"] = {
            "sampled_records": len(self.samples_for_records),
            "records_by_account": counts,
            "open_holds": open_holds,
            "problems": bad,
        }
        self.results["errors_total"] += len(bad)

    def _cost_model(self) -> None:
        """Cost per 1,000 requests at the measured C=1 duration, and with slower (real) upstreams."""
        store = self.results.get("store", {}).get("variants", {})
        cells = {(c["target"], c["mode"], c["concurrency"]): c for c in self.results.get("cells", [])}
        out: dict[str, Any] = {"prices": prices_json(), "memory_mb": RELAY_MEMORY_MB, "scenarios": {}}
        concurrency = min(c for c, _ in self.o.cells)
        for mode in self.o.modes:
            variant = store.get(mode)
            relay, direct = cells.get(("relay", mode, concurrency)), cells.get(("direct", mode, concurrency))
            if variant is None or relay is None or direct is None:
                continue
            measured = relay["latency"]["total_ms"]["p50"]
            added = measured - direct["latency"]["total_ms"]["p50"]
            shapes = variant["shapes"]
            stored = 0.0
            for shape in shapes.values():
                for action, size in shape["item_bytes"].items():
                    if action == "put UsageTable":
                        stored += shape["calls_per_request"] * 3 * (size + 100)  # table + 2 ALL-projected indexes
                    elif action == "put LedgerTable":
                        stored += shape["calls_per_request"] * (size + 100)
            for label, duration in (
                (f"measured at C={concurrency} (mock upstream)", measured),
                ("2 s upstream + measured overhead", 2000.0 + added),
                ("10 s upstream + measured overhead", 10_000.0 + added),
            ):
                out["scenarios"][f"{mode}: {label}"] = cost_per_1000(
                    duration_ms=duration,
                    memory_mb=RELAY_MEMORY_MB,
                    write_units=variant["write_units_per_request"],
                    read_units=variant["read_units_per_request"],
                    response_bytes=relay["response_bytes_mean"],
                    log_bytes=relay["costs"].get("relay_log_bytes_per_request", 0.0),
                    stored_bytes=stored,
                )
        self.results["cost_model"] = out
