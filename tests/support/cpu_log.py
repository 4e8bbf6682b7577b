"""Where the suite's CPU goes, per test file: an opt-in pytest plugin (``TOLLWAY_TEST_CPU_LOG=<file>``).

A test's cost is mostly not in the pytest process: the local stack's relay, emulator and mock upstream
and the CLI subprocesses burn it. So at each change of test file, the plugin reads the CPU time of the
pytest process and of every process below it (user + system, plus what their reaped children used)
from /proc and appends the difference to the file, one JSON line per file and per worker. Session
fixtures count where they are first used (a stack's start-up in the first file that needs it) and their
teardown with the worker's last file. Linux only; without /proc it writes nothing.

    TOLLWAY_TEST_CPU_LOG=/tmp/cpu.jsonl make test
    python -m tests.support.cpu_log /tmp/cpu.jsonl     # per directory and per file, largest first
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat(pid: int | str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children) from /proc/<pid>/stat."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    # fields[1] is ppid; utime, stime, cutime, cstime are fields 14-17 of stat (here 11-14).
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and every live process below it (and what they reaped)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (found := _stat(entry.name)) is not None:
            stats[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total


class CpuLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.current = "(collection)"
        self.mark = tree_cpu(os.getpid())

    def switch(self, name: str) -> None:
        now = tree_cpu(os.getpid())
        line = {"file": self.current, "worker": self.worker, "cpu_s": round(now - self.mark, 3)}
        with self.path.open("a") as out:
            out.write(json.dumps(line) + "\n")
        self.current, self.mark = name, now

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        name = item.nodeid.split("::", 1)[0]
        if name != self.current:
            self.switch(name)
        yield

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        self.switch("(teardown)")


def register(config: pytest.Config) -> None:
    """Called from tests/conftest.py: on when TOLLWAY_TEST_CPU_LOG names a file and /proc exists."""
    target = os.environ.get("TOLLWAY_TEST_CPU_LOG")
    # Not in xdist's controller: its process tree holds the workers, which log their own files.
    controller = bool(getattr(config.option, "numprocesses", None)) and "PYTEST_XDIST_WORKER" not in os.environ
    if target and not controller and _PROC.joinpath("self", "stat").exists():
        config.pluginmanager.register(CpuLog(Path(target)), "tollway-cpu-log")


def summary(path: Path, depth: int = 3) -> str:
    by_file: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        by_file[entry["file"]] += entry["cpu_s"]
    by_dir: Counter[str] = Counter()
    for name, cpu in by_file.items():
        by_dir["/".join(name.split("/")[:depth]) if name.startswith("tests/") else name] += cpu
    lines = [f"total {sum(by_file.values()):.1f} CPU-s", "", "per directory:"]
    lines += [f"{cpu:8.1f}  {name}" for name, cpu in by_dir.most_common()]
    lines += ["", "per file (top 40):"]
    lines += [f"{cpu:8.1f}  {name}" for name, cpu in by_file.most_common(40)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3))
