"""`python -m bench.images [--images 1,2,4] [--size WxH] [--slow-images N] [--slow-mbps M] [--loops …]`
— the relay's memory while it relays a 30 MB `b64_json` image answer.

Brings up the emulator, the mock upstream (its own process) and the relay as Lambda runs it (uvicorn,
uvloop, httptools), seeds one account, key and `gpt-image-2` channel through the admin registry, then:

1. warm-up: a few small image requests, so imports, pools and caches are in place; the relay's VmRSS
   then is its idle figure;
2. large answers of `n` noise pictures (incompressible: ≈16.8 MB of base64 per 2048×2048 picture; by
   default 1, 2 and 4 pictures, 17-67 MB), each read by a client at full speed, and the 2-picture
   (≈33.6 MB) answer once more by a slow client (`--slow-mbps`), while a thread samples the relay's
   VmRSS every 2 ms; VmHWM (the kernel's own peak) is read before and after. Flat memory: the peak
   does not grow with the answer. The relay runs on uvloop (as on Lambda) and, for comparison, on
   asyncio's loop: libuv reads up to 32 × 256 KiB per readiness event, a read-ahead asyncio does not do.

The mock builds each answer whole in memory, as a simple upstream does: its growth is the contrast.
Prints a table; writes the figures to `bench/results/images-<UTC time>.json` (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from tollway.admin.commands import load as load_commands
from tollway.admin.registry import AdminContext
from tollway.services import Services
from tollway.settings import Settings
from tollway_local.emulator import EmulatorProcess
from tollway_local.mock import MockConfig, MockProcess

from bench.procs import DUMMY_AWS, RelayProcess, memory_bytes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MODEL = "gpt-image-2"
MB = 1024 * 1024


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _admin(services: Services, command: str, args: dict[str, Any]) -> Any:
    envelope = load_commands().dispatch(command, args, AdminContext(services=services, actor="bench"))
    if not envelope.get("ok"):
        raise RuntimeError(f"admin {command} failed: {envelope.get('error')}")
    return envelope["result"]


def _seed(endpoint: str, mock_base_url: str) -> str:
    """One account with ample credit, its key (returned) and a channel serving the image model."""
    services = Services.on_aws(Settings(aws_endpoint_url=endpoint))
    account = _admin(services, "account.create", {"name": "bench images", "credit_usd": "10000"})
    key = _admin(services, "key.create", {"account_id": account["account_id"], "name": "bench images"})
    _admin(
        services,
        "channel.add",
        {
            "name": "bench images",
            "type": "mock",
            "base_url": mock_base_url,
            "api_key": "k",
            "models": [MODEL],
        },
    )
    return str(key["key"])


class RssSampler:
    """Samples a process's VmRSS in a thread until stopped; `peak` is the largest sample."""

    def __init__(self, pid: int, every_s: float = 0.002) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(memory_bytes(self.pid)["VmRSS"])
            time.sleep(self.every_s)

    @contextmanager
    def running(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def _request(url: str, key: str, body: dict[str, Any], *, slow_bps: float | None = None) -> tuple[int, float]:
    """POST and read the whole answer (counting it, keeping none); returns (bytes, seconds)."""
    size = 0
    started = time.perf_counter()
    with (
        httpx.Client(timeout=300) as http,
        http.stream("POST", f"{url}/v1/images/generations", json=body, headers={"authorization": f"Bearer {key}"}) as r,
    ):
        if r.status_code != 200:
            raise RuntimeError(f"the relay answered {r.status_code}: {r.read()[:500]!r}")
        for chunk in r.iter_raw(64 * 1024):
            size += len(chunk)
            if slow_bps:
                time.sleep(len(chunk) / slow_bps)
    return size, time.perf_counter() - started


def _run(relay: RelayProcess, key: str, body: dict[str, Any], reader: str, mbps: float | None) -> dict[str, Any]:
    before = memory_bytes(relay.pid)
    with RssSampler(relay.pid).running() as sampler:
        total, seconds = _request(relay.url, key, body, slow_bps=None if mbps is None else mbps * 1e6)
    after = memory_bytes(relay.pid)
    return {
        "images": body["n"],
        "reader": reader,
        "answer_bytes": total,
        "seconds": round(seconds, 3),
        "rss_before_bytes": before["VmRSS"],
        "rss_peak_sampled_bytes": sampler.peak,
        "rss_after_bytes": after["VmRSS"],
        "vmhwm_before_bytes": before["VmHWM"],
        "vmhwm_after_bytes": after["VmHWM"],
        "samples": len(sampler.samples),
    }


class _Relay(RelayProcess):
    """The relay process with a chosen event loop (Lambda runs it on uvloop)."""

    def __init__(self, env: dict[str, str], *, loop: str, cpu: int | None, log_path: Path) -> None:
        super().__init__(env, cpu=cpu, log_path=log_path)
        self.loop = loop

    def argv(self, port: int) -> list[str]:
        argv = super().argv(port)
        argv[argv.index("--loop") + 1] = self.loop
        return argv


def _relay_runs(
    relay: RelayProcess, key: str, counts: list[int], size: str, slow_images: int, slow_mbps: float
) -> dict[str, Any]:
    small = {"model": MODEL, "prompt": "a small warm-up picture", "n": 1, "size": "1024x1024", "quality": "low"}
    for _ in range(5):
        _request(relay.url, key, small)
    time.sleep(1.0)
    idle = memory_bytes(relay.pid)
    runs: list[dict[str, Any]] = []
    for n in counts:
        large = {"model": MODEL, "prompt": "[[noise]] static", "n": n, "size": size, "quality": "low"}
        _say(f"  {n} × {size} (rendered and cached by the mock first, then measured)")
        _request(relay.url, key, large)  # the mock renders the pictures once: the run below times the relay
        runs.append(_run(relay, key, large, "full speed", None))
    slow = {"model": MODEL, "prompt": "[[noise]] static", "n": slow_images, "size": size, "quality": "low"}
    _say(f"  {slow_images} × {size}, read at {slow_mbps:g} MB/s")
    runs.append(_run(relay, key, slow, f"{slow_mbps:g} MB/s", slow_mbps))
    return {"idle_rss_bytes": idle["VmRSS"], "idle_vmhwm_bytes": idle["VmHWM"], "runs": runs}


def measure(
    counts: list[int], size: str, slow_images: int, slow_mbps: float, loops: list[str], workdir: Path
) -> dict[str, Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(DUMMY_AWS)
    two_cores = (os.cpu_count() or 1) >= 2
    relay_cpu, shared_cpu = (1, 0) if two_cores else (None, None)
    with ExitStack() as stack:
        _say("starting the emulator and the mock upstream")
        emulator = stack.enter_context(
            EmulatorProcess(
                workdir / "state", ROOT / "template.yaml", cpu=shared_cpu, extra_args=("--snapshot-interval", "100000")
            )
        )
        mock = stack.enter_context(
            MockProcess(MockConfig.fast(log_size=4), cpus=None if shared_cpu is None else [shared_cpu])
        )
        key = _seed(emulator.endpoint, mock.base_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
        env.update(TOLLWAY_AWS_ENDPOINT_URL=emulator.endpoint, PYTHONUNBUFFERED="1")
        mock_idle = memory_bytes(mock.pid)["VmRSS"]
        by_loop: dict[str, Any] = {}
        for loop in loops:
            _say(f"relay on {loop}: warming up, then the large answers")
            relay = _Relay(env, loop=loop, cpu=relay_cpu, log_path=workdir / f"relay-{loop}.log").start()
            try:
                by_loop[loop] = _relay_runs(relay, key, counts, size, slow_images, slow_mbps)
            finally:
                relay.stop()
        return {
            "model": MODEL,
            "size": size,
            "loops": by_loop,
            "mock_idle_rss_bytes": mock_idle,
            "mock_peak_vmhwm_bytes": memory_bytes(mock.pid)["VmHWM"],
            "pinned": two_cores,
        }


def render(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for loop, figures in result["loops"].items():
        idle = figures["idle_rss_bytes"]
        lines += [
            f"relay on {loop}: idle RSS {idle / MB:.1f} MiB after warm-up",
            "",
            "| answer | client reads at | time | relay RSS before | peak (sampled) | peak − idle | VmHWM after |",
            "|---|---|---|---|---|---|---|",
        ]
        for run in figures["runs"]:
            lines.append(
                f"| {run['images']} × {result['size']} = {run['answer_bytes'] / 1e6:.1f} MB | {run['reader']} | "
                f"{run['seconds']:.2f} s | {run['rss_before_bytes'] / MB:.1f} MiB | "
                f"{run['rss_peak_sampled_bytes'] / MB:.1f} MiB | "
                f"{(run['rss_peak_sampled_bytes'] - idle) / MB:+.1f} MiB | {run['vmhwm_after_bytes'] / MB:.1f} MiB |"
            )
        lines.append("")
    growth = (result["mock_peak_vmhwm_bytes"] - result["mock_idle_rss_bytes"]) / MB
    lines.append(f"contrast: the mock upstream, which builds each answer whole, grew by {growth:.0f} MiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="1,2,4", help="answers of this many pictures (default 1,2,4: 17-67 MB)")
    parser.add_argument("--size", default="2048x2048", help="picture size (default 2048x2048: ≈16.8 MB each in base64)")
    parser.add_argument("--slow-images", type=int, default=2, help="pictures in the slow reader's answer (default 2)")
    parser.add_argument("--slow-mbps", type=float, default=8.0, help="the slow reader's pace in MB/s (default 8)")
    parser.add_argument("--loops", default="uvloop,asyncio", help="relay event loops (default uvloop,asyncio)")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/images-<UTC time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ns = parser.parse_args(argv)
    counts = [int(n) for n in ns.images.split(",") if n.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-images-"))
    try:
        loops = [loop.strip() for loop in ns.loops.split(",") if loop.strip()]
        result = measure(counts, ns.size, ns.slow_images, ns.slow_mbps, loops, workdir)
    finally:
        if ns.keep:
            _say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = ns.out or RESULTS / f"images-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    _say(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
