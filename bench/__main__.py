"""`python -m bench [--quick] [--cells 1:200,16:1200,64:2400] [--no-stream | --stream-only] [--no-floor] [--out PATH]`.

Prints the tables on stdout, progress on stderr, and writes the whole results document as JSON to
`bench/results/bench-<UTC timestamp>.json` (or `--out`). Exit status 1 if any response or usage
record was wrong (the run still reports), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.load import STOP
from bench.report import render
from bench.runner import BenchError, Options, Run

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CELLS = "1:100,16:800,64:1600"
QUICK_CELLS = "1:12,16:96,64:192"


def parse_cells(text: str) -> list[tuple[int, int]]:
    """`1:300,16:1600` → [(1, 300), (16, 1600)] (concurrency:requests, each ≥ 1, N ≥ C)."""
    cells: list[tuple[int, int]] = []
    for part in text.split(","):
        concurrency, sep, count = part.strip().partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(f"a cell is CONCURRENCY:REQUESTS, got {part!r}")
        try:
            c, n = int(concurrency), int(count)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not numbers: {part!r}") from exc
        if c < 1 or n < c:
            raise argparse.ArgumentTypeError(f"need 1 ≤ concurrency ≤ requests: {part!r}")
        cells.append((c, n))
    return cells


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help=f"smoke run (cells {QUICK_CELLS}, small preload)")
    parser.add_argument("--cells", type=parse_cells, help=f"CONCURRENCY:REQUESTS,... (default {DEFAULT_CELLS})")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--no-stream", action="store_true", help="non-streaming cells only")
    modes.add_argument("--stream-only", action="store_true", help="streaming cells only")
    parser.add_argument("--out", type=Path, help="results JSON path (default bench/results/bench-<time>.json)")
    parser.add_argument("--preload", type=int, help="usage records to preload (default 10000; --quick 2000)")
    parser.add_argument("--profile", action="store_true", help="also profile the relay (cProfile) at C=16")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profiles)")
    parser.add_argument(
        "--nice", type=int, metavar="N", help="run the benchmark and its children at niceness N (e.g. -10, as root)"
    )
    parser.add_argument(
        "--relay-rt",
        type=int,
        metavar="P",
        help="run the relay under SCHED_FIFO priority P (root): other work cannot take its core",
    )
    parser.add_argument(
        "--gc-watch", action="store_true", help="record the main relay's garbage-collector pauses (bench.relay_gc)"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="S", help="wait up to S seconds for idle cores before starting"
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the passthrough floor cells (bench/floor_app.py) and the relay/floor ratios",
    )
    parser.add_argument(
        "--settle-before-answer",
        action="store_true",
        help="the relay as the Lambda template configures it: a non-streaming answer waits for its settle",
    )
    parser.add_argument(
        "--emulator-copy-tables",
        action="store_true",
        help="the emulator's transactions as moto ships them (whole-table copies), for a before/after",
    )
    parser.add_argument(
        "--store-client", choices=["boto3", "wire"], help="the relay's store client (TOLLWAY_STORE_CLIENT)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="R",
        help="run each C's floor and relay cells as R alternating rounds (floor, relay, floor, …) merged "
        "into one cell each, so a drift of the machine's speed lands on both figures of a ratio",
    )
    parser.add_argument(
        "--cells-only",
        action="store_true",
        help="only the load cells and the relay/floor ratios (no cold start, chunk delays, store counts or "
        "cost model): a faster loop while working on the relay's CPU",
    )
    return parser


def _clean(value: Any) -> Any:
    """JSON without NaN (strict parsers refuse it): NaN becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    STOP.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quick = bool(args.quick)
    options = Options(
        cells=args.cells or parse_cells(QUICK_CELLS if quick else DEFAULT_CELLS),
        modes=("ns",) if args.no_stream else ("stream",) if args.stream_only else ("ns", "stream"),
        preload=args.preload if args.preload is not None else (2000 if quick else 10_000),
        profile=bool(args.profile),
        keep=bool(args.keep),
        wait_quiet_s=args.wait_quiet,
        nice=args.nice,
        relay_rt=args.relay_rt,
        gc_watch=bool(args.gc_watch),
        emulator_copy_tables=bool(args.emulator_copy_tables),
        store_client=args.store_client,
        settle_before_answer=bool(args.settle_before_answer),
        floor=not args.no_floor,
        cells_only=bool(args.cells_only),
        rounds=max(1, int(args.rounds)),
        log=sys.stderr,
    )
    if quick:
        options.count_requests = 4
        options.tap_cells = [(1, 6), (16, 48)]
        options.import_repeats = 1
        options.warmup_extra = 4
        options.profile_requests = 300
    # Our own handler for both (asyncio.Runner's SIGINT handler only cancels the running task, which a
    # load generator in the middle of a request may not notice at once).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    started = time.monotonic()
    try:
        results = Run(options).execute()
    except KeyboardInterrupt:
        print("bench: interrupted; every child process was stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: cannot measure: {exc}", file=sys.stderr)
        return 2
    results["run_seconds"] = time.monotonic() - started
    results["options"]["quick"] = quick
    results["options"]["import_repeats"] = options.import_repeats
    out = args.out or RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean(results), indent=1, sort_keys=False) + "\n")
    print(render(results))
    print(f"\nresults: {out}  ({results['run_seconds']:.0f} s)")
    return 1 if results.get("errors_total") else 0


if __name__ == "__main__":
    sys.exit(main())
