"""Linux process figures from /proc, and the relay as a pinned child process."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "CLOCK_TICKS_PER_S",
    "DUMMY_AWS",
    "CoreTimes",
    "RelayProcess",
    "core_times",
    "cpu_seconds",
    "free_port",
    "memory_bytes",
]

#: Credentials and region for the local stack's AWS clients: the emulator accepts any, and these can
#: never reach real AWS (no instance metadata lookup either).
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

#: /proc counts CPU time in these (100 on Linux): a process's utime + stime moves 10 ms at a time.
CLOCK_TICKS_PER_S = float(os.sysconf("SC_CLK_TCK"))
_TICK = CLOCK_TICKS_PER_S
_PR_SET_PDEATHSIG = 1


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / _TICK


def memory_bytes(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) * 1024
    return out


@dataclass(frozen=True, slots=True)
class CoreTimes:
    """Cumulative time of one CPU from /proc/stat, in seconds."""

    busy: float  # user + nice + system + irq + softirq
    steal: float  # taken by the hypervisor for other guests
    total: float

    def __sub__(self, other: CoreTimes) -> CoreTimes:
        return CoreTimes(self.busy - other.busy, self.steal - other.steal, self.total - other.total)


def core_times(cpu: int) -> CoreTimes:
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith(f"cpu{cpu} "):
                values = [int(v) for v in line.split()[1:]]
                user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
                busy = user + nice + system + irq + softirq
                total = busy + idle + iowait + steal
                return CoreTimes(busy / _TICK, steal / _TICK, total / _TICK)
    raise RuntimeError(f"cpu{cpu} is not in /proc/stat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_setup(cpu: int | None, rt_priority: int | None) -> None:
    """In the child before exec: pin to `cpu`, optionally make it a SCHED_FIFO process, and have it
    die with the parent (even if the parent is SIGKILLed)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if rt_priority is not None:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rt_priority))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class RelayProcess:
    """The relay as Lambda runs it (uvicorn, uvloop, httptools, no access log), pinned to one CPU.

    `wrapper` replaces `-m uvicorn` with another module taking the same arguments (the profiler).
    `factory` is the app factory uvicorn calls (the concurrency ladder's serves the same app on a
    store stand-in). `rt_priority` runs it under SCHED_FIFO (root only): on a machine shared with other work, nothing
    else then takes its core while it has something to do.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        cpu: int | None,
        log_path: Path,
        wrapper: str | None = None,
        rt_priority: int | None = None,
        start_timeout_s: float = 30.0,
        factory: str = "relay.app:app_from_env",
    ) -> None:
        self.env = env
        self.factory = factory
        self.cpu = cpu
        self.log_path = log_path
        self.wrapper = wrapper
        self.rt_priority = rt_priority
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.url = ""
        self.ready_s = 0.0  # spawn to the first answered /healthz
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the relay is not running")
        return self._proc.pid

    def argv(self, port: int) -> list[str]:
        module = self.wrapper or "uvicorn"
        return [
            sys.executable,
            "-m",
            module,
            "--factory",
            self.factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--timeout-keep-alive",
            "75",
        ]

    def start(self) -> RelayProcess:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed in stop()
        cpu, rt_priority = self.cpu, self.rt_priority
        spawned = time.perf_counter()
        self._proc = subprocess.Popen(
            self.argv(self.port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=self.env,
            preexec_fn=lambda: _child_setup(cpu, rt_priority),  # spawned from the main thread only
        )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the relay exited with {self._proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        self.ready_s = time.perf_counter() - spawned
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the relay did not answer /healthz in {self.start_timeout_s:.0f} s")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""
