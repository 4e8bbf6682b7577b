"""`python -m bench.relay_profile <uvicorn arguments>`: the relay under cProfile, every thread included.

cProfile only sees the thread that enabled it, and the relay's store calls run in worker threads
(anyio.to_thread), so each thread gets its own profiler (the main thread here, the others through
a patched `threading.Thread._bootstrap_inner`), timed by that thread's own CPU clock (blocking
waits cost nothing). On SIGTERM/SIGINT uvicorn stops; the merged stats go to the file named by
$BENCH_PROFILE_OUT (pstats format). Used by `python -m bench --profile`; its CPU figures are
inflated by the profiler and are never reported as the benchmark's.
"""

from __future__ import annotations

import cProfile
import functools
import os
import pstats
import re
import signal
import threading
import time
from typing import Any

__all__ = ["main"]

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _thread_profile() -> cProfile.Profile:
    """A profiler timed by the CPU clock of the calling thread, read through that thread's clock id, so
    the stats stay right when they are collected from another thread (`time.thread_time` would read
    the collecting thread's clock for calls still pending, e.g. an idle worker's lock wait)."""
    clock = time.pthread_getcpuclockid(threading.get_ident())
    return cProfile.Profile(functools.partial(time.clock_gettime, clock))


def _patch_threads() -> None:
    # `_bootstrap_inner` (CPython 3.11–3.13) runs every thread, whatever class overrides `run`
    # (anyio's worker threads do).
    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def bootstrap(self: threading.Thread) -> None:
        profile = _thread_profile()
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]


def _dump(path: str) -> None:
    stats: pstats.Stats | None = None
    with _lock:
        profiles = list(_profiles)
    for profile in profiles:
        profile.create_stats()  # disables it (worker threads are idle by now)
        if not getattr(profile, "stats", None):
            continue
        if stats is None:
            stats = pstats.Stats(profile)
        else:
            stats.add(profile)
    if stats is not None:
        stats.dump_stats(path)


def main() -> None:
    import uvicorn.main

    out = os.environ.get("BENCH_PROFILE_OUT", "relay.prof")
    # uvicorn re-raises the signal that stopped it once it has shut down; with the default handler
    # that would kill the process before the profile is written.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    _patch_threads()
    main_profile = _thread_profile()
    with _lock:
        _profiles.append(main_profile)
    main_profile.enable()
    try:
        uvicorn.main.main(prog_name="uvicorn")  # parses sys.argv like `python -m uvicorn`
    except SystemExit:
        pass
    finally:
        main_profile.disable()
        _dump(out)


def summarize(path: str, *, top: int = 25) -> dict[str, Any]:
    """Own CPU time by package (a C function's time goes to the package that called it, in proportion
    to its calls' time), and the top functions, from a dumped profile."""
    stats = pstats.Stats(path)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    rows: list[tuple[float, float, int, str]] = []
    total = 0.0
    for (filename, line, name), (_, calls, tottime, cumtime, callers) in raw.items():
        total += tottime
        package = _package_of(filename)
        rows.append((tottime, cumtime, calls, f"{package}:{os.path.basename(filename)}:{line}({name})"))
        if package == "builtins" and callers:
            caller_time = {c: v[2] for c, v in callers.items()}
            spread = sum(caller_time.values())
            for caller, share in caller_time.items():
                owner = _package_of(caller[0])
                weight = share / spread if spread else 1 / len(caller_time)
                by_package[owner] = by_package.get(owner, 0.0) + tottime * weight
        else:
            by_package[package] = by_package.get(package, 0.0) + tottime
    rows.sort(reverse=True)
    return {
        "total_s": total,
        "by_package_share": {k: v / total for k, v in sorted(by_package.items(), key=lambda kv: -kv[1]) if total},
        "top_functions": [{"function": f, "tottime_s": t, "cumtime_s": c, "calls": n} for t, c, n, f in rows[:top]],
    }


def _package_of(filename: str) -> str:
    """`botocore`, `relay`, `stdlib:asyncio`, `builtins` (C functions) ... for a profiled code location."""
    if filename.startswith("<") or filename == "~":
        return "builtins"
    parts = filename.split("/")
    if "site-packages" in parts:
        index = len(parts) - 1 - parts[::-1].index("site-packages")
        return parts[index + 1].removesuffix(".py") if index + 1 < len(parts) else "site-packages"
    for known in ("relay", "tollway_local", "tollway"):
        if f"/{known}/" in filename:
            return known
    found = re.search(r"/lib/python3\.\d+/([^/]+)", filename)
    if found:
        return "stdlib:" + found.group(1).removesuffix(".py")
    return parts[-1]


if __name__ == "__main__":
    main()
