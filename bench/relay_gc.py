"""`python -m bench.relay_gc <uvicorn arguments>`: the relay with its garbage-collector pauses recorded.

A `gc.callbacks` hook times every collection; on SIGTERM/SIGINT (uvicorn stops) the pauses go to
$BENCH_GC_OUT as JSON: `{"pauses": [[generation, ms], ...], "frozen": n}`. With
$BENCH_GC_FREEZE_AFTER_S set, `gc.collect(); gc.freeze()` runs once that many seconds after start,
to measure what freezing the startup heap does (used by `python -m bench --gc-watch`).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from typing import Any

__all__ = ["main"]

_pauses: list[tuple[int, float]] = []
_started: list[float] = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses.append((int(info["generation"]), (time.perf_counter() - _started[0]) * 1000))


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def main() -> None:
    import uvicorn.main

    out = os.environ.get("BENCH_GC_OUT", "relay-gc.json")
    for signum in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises the signal that stopped it
        signal.signal(signum, lambda *_: None)
    freeze_after = os.environ.get("BENCH_GC_FREEZE_AFTER_S")
    if freeze_after:
        timer = threading.Timer(float(freeze_after), _freeze)
        timer.daemon = True
        timer.start()
    gc.callbacks.append(_callback)
    try:
        uvicorn.main.main(prog_name="uvicorn")
    except SystemExit:
        pass
    finally:
        gc.callbacks.remove(_callback)
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"pauses": _pauses, "frozen": gc.get_freeze_count()}, handle)


if __name__ == "__main__":
    main()
