"""`python -m tollway_local.emulator`: run the emulator until SIGTERM/SIGINT.

Prints exactly one line on stdout once it serves, `{"ready": true, "endpoint": "http://127.0.0.1:PORT"}`;
everything else goes to stderr (stdout is pointed at stderr after that line). Exit status: 0 after a
clean stop (final snapshot written), 3 when it cannot start (unreadable snapshot, state directory in
use, bad template), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tollway_local.emulator.clients import DEFAULT_REGION
from tollway_local.emulator.faults import Fault, parse_plan_args
from tollway_local.emulator.restore import SnapshotError
from tollway_local.emulator.server import EmulatorServer, StateDirBusyError
from tollway_local.emulator.template import TemplateError

if TYPE_CHECKING:
    from types import FrameType

START_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tollway_local.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--state-dir", type=Path, help="snapshots go to STATE_DIR/emulator/ (omit: memory only)")
    parser.add_argument("--template", type=Path, help="template.yaml to create tables, buckets and topics from")
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--snapshot-interval", type=float, default=1.0, help="seconds between snapshots, at most")
    parser.add_argument(
        "--on-corrupt",
        choices=("fail", "move-aside"),
        default="fail",
        help="unreadable snapshot: refuse to start (default), or rename it *.corrupt-<time> and start empty",
    )
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU (benchmarks)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop cleanly when stdin closes")
    parser.add_argument("--no-untrack", action="store_true", help="keep moto's instances_tracked leak (to measure it)")
    parser.add_argument("--no-gc-freeze", action="store_true", help="skip gc.collect(); gc.freeze() after restore")
    parser.add_argument(
        "--copy-tables",
        action="store_true",
        help="TransactWriteItems as moto ships it (copies every table it names; to measure it)",
    )
    parser.add_argument(
        "--no-fast-paths",
        action="store_true",
        help="moto's own expression parsing, item size checks and dispatch (cpupaths.py; to measure them)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval() for stress tests: a tiny value forces thread switches inside moto calls",
    )
    faults = parser.add_argument_group("fault mode (off by default; also POST /_emulator/faults at run time)")
    faults.add_argument("--faults", type=float, default=0.0, metavar="RATE", help="fraction of calls faulted")
    faults.add_argument("--fault-seed", type=int, default=0, metavar="N", help="seed of the fault draws")
    faults.add_argument(
        "--fault-kinds",
        type=_names,
        metavar="K,K",
        help=f"any of {','.join(f.value for f in Fault)} (default all)",
    )
    faults.add_argument(
        "--fault-ops", type=_names, metavar="OP,OP", help="API operations to fault (default every write)"
    )
    return parser


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _watch_stdin(stop: threading.Event) -> None:
    # The parent holds the other end; when it exits (even by SIGKILL) the read returns b"".
    while os.read(sys.stdin.fileno(), 4096):
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # before any thread exists, so all of them inherit it
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = EmulatorServer(
        template=args.template,
        state_dir=args.state_dir,
        host=args.host,
        port=args.port,
        region=args.region,
        snapshot_interval=args.snapshot_interval,
        copy_tables=args.copy_tables,
        fast_paths=not args.no_fast_paths,
        untrack=not args.no_untrack,
        gc_freeze=not args.no_gc_freeze,
        on_corrupt=args.on_corrupt,
        faults=parse_plan_args(args.faults, args.fault_seed, args.fault_kinds, args.fault_ops),
    )
    try:
        endpoint = server.start()
    except (SnapshotError, StateDirBusyError, TemplateError) as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr, flush=True)
        if isinstance(exc, SnapshotError):
            print(
                "emulator: nothing was changed on disk. Move the snapshot away to start empty, "
                "or pass --on-corrupt=move-aside.",
                file=sys.stderr,
                flush=True,
            )
        return START_FAILED
    print(json.dumps({"ready": True, "endpoint": endpoint}), flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # moto prints some warnings to stdout
    if args.exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(stop,), name="emulator-stdin", daemon=True).start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
