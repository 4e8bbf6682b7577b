"""What one measured window costs each process: CPU, store calls, log bytes, core use."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import CoreTimes, core_times, cpu_seconds

__all__ = ["Probe", "Reading", "quiesce"]


@dataclass(frozen=True, slots=True)
class Reading:
    wall: float
    relay_cpu: float | None
    emulator: dict[str, Any] | None
    mock_cpu: float
    self_cpu: float
    core0: CoreTimes
    core1: CoreTimes
    relay_log_bytes: int


class Probe:
    """Reads every process figure at the start and at the end of a window."""

    def __init__(
        self,
        *,
        mock_pid: int,
        emulator_stats: Callable[[], dict[str, Any]],
        relay_pid: int | None = None,
        relay_log: Path | None = None,
    ) -> None:
        self.mock_pid = mock_pid
        self.emulator_stats = emulator_stats
        self.relay_pid = relay_pid
        self.relay_log = relay_log

    def read(self) -> Reading:
        return Reading(
            wall=time.perf_counter(),
            relay_cpu=cpu_seconds(self.relay_pid) if self.relay_pid is not None else None,
            emulator=self.emulator_stats() if self.relay_pid is not None else None,
            mock_cpu=cpu_seconds(self.mock_pid),
            self_cpu=cpu_seconds(os.getpid()),
            core0=core_times(0),
            core1=core_times(1),
            relay_log_bytes=self.relay_log.stat().st_size if self.relay_log and self.relay_log.exists() else 0,
        )

    @staticmethod
    def delta(start: Reading, end: Reading, requests: int) -> dict[str, Any]:
        """Per-request costs and core utilisation over the window (`requests` > 0)."""
        wall = end.wall - start.wall
        core0, core1 = end.core0 - start.core0, end.core1 - start.core1
        out: dict[str, Any] = {
            "window_s": wall,
            "mock_cpu_ms_per_request": (end.mock_cpu - start.mock_cpu) * 1000 / requests,
            "loadgen_cpu_ms_per_request": (end.self_cpu - start.self_cpu) * 1000 / requests,
            "core0_util": core0.busy / core0.total if core0.total else 0.0,
            "core1_util": core1.busy / core1.total if core1.total else 0.0,
            "core1_steal": core1.steal / core1.total if core1.total else 0.0,
        }
        if start.relay_cpu is not None and end.relay_cpu is not None:
            relay = end.relay_cpu - start.relay_cpu
            out["relay_cpu_ms_per_request"] = relay * 1000 / requests
            out["relay_core_util"] = relay / core1.total if core1.total else 0.0
            # CPU 1 time not spent in the relay: other work on "its" core (noise)
            out["core1_foreign_util"] = max(0.0, core1.busy - relay) / core1.total if core1.total else 0.0
            out["relay_log_bytes_per_request"] = (end.relay_log_bytes - start.relay_log_bytes) / requests
        if start.emulator is not None and end.emulator is not None:
            calls = end.emulator["requests"] - start.emulator["requests"]
            mutating = end.emulator["mutating_requests"] - start.emulator["mutating_requests"]
            cpu = (end.emulator["cpu_user_s"] + end.emulator["cpu_system_s"]) - (
                start.emulator["cpu_user_s"] + start.emulator["cpu_system_s"]
            )
            out["store_calls_per_request"] = calls / requests
            out["store_writes_per_request"] = mutating / requests
            out["store_reads_per_request"] = (calls - mutating) / requests
            out["emulator_cpu_ms_per_request"] = cpu * 1000 / requests
            if "operations" in end.emulator and "operations" in start.emulator:
                ops: dict[str, float] = {}
                for name, count in end.emulator["operations"].items():
                    diff = count - start.emulator["operations"].get(name, 0)
                    if diff:
                        ops[name] = diff / requests
                out["store_operations_per_request"] = ops
        return out


def quiesce(count: Callable[[], int], *, quiet_s: float = 0.15, timeout_s: float = 15.0) -> None:
    """Wait until `count()` (the emulator's request counter) stops moving: the relay's work after its
    last response (history, close) is done, so it lands inside the window that caused it."""
    deadline = time.monotonic() + timeout_s
    last = count()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = count()
        if now == last:
            return
        last = now
