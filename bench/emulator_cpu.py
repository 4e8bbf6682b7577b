"""`python -m bench.emulator_cpu [--requests 300] [--block 20] [--concurrency 1] [--warmup 40]
[--preload 2000]`: the local emulator's CPU per relayed request, with and without its CPU fast paths.

The relay makes two store calls per request: the reserve before the upstream call and the settle
after it (each one TransactWriteItems). This drives that pair through tollway's real ledger code
(`reserve_fresh`, then `Biller.settle` and `Biller.finish`, as the relay's pipeline calls them, with
the default store client) against emulators started as their own processes from the project's
template, one request after another, and reads each emulator's own CPU counters
(`GET /_emulator/stats`: `cpu_user_s + cpu_system_s`) before and after the measured requests.

Two emulators run side by side, each seeded the same way:

- `fast`: the emulator as the local stack runs it (its CPU fast paths installed, `cpupaths.py`);
- `moto`: the same emulator with `--no-fast-paths` (moto's own expression parsing, item size checks
  and dispatch).

`--concurrency C` relays from C threads at once, each for its own account (the benchmark's C=16
cells: C request threads in the emulator waiting on its one lock). The measured requests alternate
between the emulators in blocks of `--block`, so a machine that gets busier
or quieter during the run shifts both figures alike; and the figure is CPU time, not wall time, which
a busy machine stretches far less. Both emulators get the same requests in the same order, and the
run reports each account's final balance and usage record count, which must agree (the fast paths
change cost, not answers). A benchmark, not a test: nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.procs import DUMMY_AWS

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
MODES = {"fast": (), "moto": ("--no-fast-paths",)}

__all__ = ["MODES", "ModeResult", "blocks", "cpu_seconds", "main", "per_request_ms"]


@dataclass(frozen=True, slots=True)
class ModeResult:
    mode: str
    requests: int
    emulator_calls: int  # store calls the emulator answered during the measured requests
    cpu_ms_per_request: float
    cpu_ms_per_call: float
    final_balance: int | None
    usage_records: int


def cpu_seconds(stats: dict[str, Any]) -> float:
    """The emulator process's CPU time (user + system) from its `/_emulator/stats`."""
    return float(stats["cpu_user_s"]) + float(stats["cpu_system_s"])


def per_request_ms(before: dict[str, Any], after: dict[str, Any], requests: int) -> float:
    """Emulator CPU milliseconds per relayed request between two stats readings."""
    if requests <= 0:
        raise ValueError("requests must be positive")
    return (cpu_seconds(after) - cpu_seconds(before)) * 1000 / requests


def blocks(requests: int, block: int, modes: list[str]) -> list[tuple[str, range]]:
    """The measured requests as (mode, request numbers) blocks, modes taking turns; every mode gets
    request numbers 0..requests-1 (the same requests), in order."""
    if block <= 0:
        raise ValueError("block must be positive")
    out: list[tuple[str, range]] = []
    for start in range(0, requests, block):
        span = range(start, min(start + block, requests))
        out.extend((mode, span) for mode in modes)
    return out


class _Client:
    """One account and key on an emulator, and the relay's reserve + settle for it."""

    def __init__(self, services: Any, lane: Any) -> None:
        from tollway.auth import load_context
        from tollway.keys import hash_key

        self.services, self.lane = services, lane
        context = load_context(services.accounts, hash_key(lane.key), lane.account_id)
        if context is None:
            raise RuntimeError("the seeded key cannot be read back")
        self.context = context

    def relay_one(self, n: int) -> None:
        """Request number `n`: the reserve, then the settle at a cost that depends only on `n`."""
        from tollway.ids import request_id
        from tollway.pricing.engine import OutputBudget
        from tollway.records import RecordStatus, UsageRecord
        from tollway.reserve import reserve_fresh

        from bench.seed import MODEL

        budget = OutputBudget(fixed_usd=Decimal("0.0001"), per_output_token_usd=Decimal("0.000004"))
        now = int(time.time() * 1000)
        rid = request_id(now)
        reservation, self.context = reserve_fresh(
            self.services,
            self.context,
            hold_id=rid,
            budget=budget,
            output_limit=2_000,
            min_output=16,
            now_ms=now,
            endpoint="chat.completions",
            model=MODEL,
        )
        output = 50 + (n * 37) % 400
        lane = self.lane
        record = UsageRecord(
            request_id=rid,
            created_at=now,
            account_id=lane.account_id,
            key_id=lane.key_id,
            endpoint="chat.completions",
            status=RecordStatus.OK,
            http_status=200,
            model=MODEL,
            upstream_model=MODEL,
            channel_id=lane.channel_id,
            tokens={"input": 120, "output": output},
            usage_source="upstream",
            group=lane.group,
            latency_ms=800,
            attempts=1,
        )
        movement = self.services.biller.settle(reservation.hold, budget.hold_micros(output), record, now_ms=now)
        if movement is not None:
            self.services.biller.finish(movement)


class _Lane:
    """One emulator, with `concurrency` accounts (one client thread each) relaying to it."""

    def __init__(
        self, mode: str, workdir: Path, preload: int, stack: contextlib.ExitStack, *, concurrency: int = 1
    ) -> None:
        from tollway_local.emulator import EmulatorProcess

        from bench.seed import preload_history, seed_lanes, services_for

        self.mode = mode
        extra = ("--snapshot-interval", "100000", *MODES[mode])
        self.emulator = stack.enter_context(EmulatorProcess(workdir / mode, TEMPLATE, extra_args=extra))
        seeder = services_for(self.emulator.endpoint)
        names = {f"c{n}": "http://127.0.0.1:9/v1" for n in range(concurrency)}
        seeded = seed_lanes(seeder, base_urls=names, headers={})
        # one Services per client thread, as each relay worker has its own store client
        self.clients = [_Client(services_for(self.emulator.endpoint), seeded[name]) for name in names]
        self.ddb = self.emulator.client("dynamodb")
        if preload:
            # Fixed clock: both emulators hold the same history.
            preload_history(self.ddb, records=preload, now_ms=1_800_000_000_000)
        self.emulator.gc_freeze()
        self.cpu_s = 0.0
        self.calls = 0
        self.requests = 0

    def relay(self, numbers: range) -> None:
        """Relay `numbers`, spread over the clients (request n goes to client n mod concurrency)."""
        clients = self.clients
        if len(clients) == 1:
            for n in numbers:
                clients[0].relay_one(n)
            return
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                for n in numbers:
                    if n % len(clients) == index:
                        clients[index].relay_one(n)
            except BaseException as exc:  # reported below, after every thread ended
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(index,)) for index in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def run(self, numbers: range) -> None:
        """Relay `numbers`, adding the emulator's CPU and calls over them to this lane's totals."""
        before = self.emulator.stats()
        self.relay(numbers)
        after = self.emulator.stats()
        self.cpu_s += cpu_seconds(after) - cpu_seconds(before)
        self.calls += int(after["requests"]) - int(before["requests"])  # stats calls are not counted
        self.requests += len(numbers)

    def result(self) -> ModeResult:
        cpu_ms = self.cpu_s * 1000
        balances = [c.services.ledger.balance(c.lane.account_id) for c in self.clients]
        table = self.clients[0].services.settings.usage_table
        return ModeResult(
            mode=self.mode,
            requests=self.requests,
            emulator_calls=self.calls,
            cpu_ms_per_request=round(cpu_ms / max(self.requests, 1), 3),
            cpu_ms_per_call=round(cpu_ms / max(self.calls, 1), 3),
            final_balance=None if None in balances else sum(b for b in balances if b is not None),
            usage_records=sum(_count(self.ddb, table, c.lane.account_id) for c in self.clients),
        )


def _count(ddb: Any, table: str, account_id: str) -> int:
    """Items of `table` whose account_id is `account_id` (a scan: the bench's tables are small)."""
    count = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "FilterExpression": "account_id = :a",
        "ExpressionAttributeValues": {":a": {"S": account_id}},
    }
    while True:
        page = ddb.scan(**kwargs)
        count += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return count
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(
    modes: list[str], *, requests: int, block: int, warmup: int, preload: int, concurrency: int = 1
) -> list[ModeResult]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(DUMMY_AWS)  # the emulators accept any credentials; never reach real AWS
    with tempfile.TemporaryDirectory(prefix="emulator-cpu-") as tmp, contextlib.ExitStack() as stack:
        lanes = {mode: _Lane(mode, Path(tmp), preload, stack, concurrency=concurrency) for mode in modes}
        for lane in lanes.values():
            lane.relay(range(-warmup, 0))
        # a turn keeps every client thread busy for a few requests, or it would not be C at once
        for mode, numbers in blocks(requests, max(block, 4 * concurrency), modes):
            lanes[mode].run(numbers)
        return [lane.result() for lane in lanes.values()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_cpu", description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="measured relayed requests per emulator")
    parser.add_argument(
        "--block",
        type=int,
        default=10,
        help="requests per turn before the other emulator's turn (at least 4 per client thread)",
    )
    parser.add_argument("--warmup", type=int, default=40, help="relayed requests before measuring")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="client threads (one account each) relaying at once, as at C=16"
    )
    parser.add_argument("--preload", type=int, default=2000, help="other accounts' usage records written first")
    parser.add_argument("--modes", default="fast,moto", help=f"comma-separated, of {','.join(MODES)}")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    bad_numbers = args.requests <= 0 or args.block <= 0 or args.concurrency <= 0 or args.warmup < 0
    if unknown or not modes or len(set(modes)) != len(modes) or bad_numbers:
        print(f"bad arguments: modes {modes} (known: {list(MODES)}), requests {args.requests}", file=sys.stderr)
        return 2
    results = measure(
        modes,
        requests=args.requests,
        block=args.block,
        warmup=args.warmup,
        preload=args.preload,
        concurrency=args.concurrency,
    )
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(report(results))
    return 0


def report(results: list[ModeResult]) -> str:
    lines = [f"{'mode':<6} {'requests':>8} {'calls':>6} {'CPU ms/request':>15} {'CPU ms/call':>12}"]
    lines += [
        f"{r.mode:<6} {r.requests:>8} {r.emulator_calls:>6} {r.cpu_ms_per_request:>15.3f} {r.cpu_ms_per_call:>12.3f}"
        for r in results
    ]
    by_mode = {r.mode: r for r in results}
    if "fast" in by_mode and "moto" in by_mode:
        fast, moto = by_mode["fast"], by_mode["moto"]
        if moto.cpu_ms_per_request > 0:
            lines.append(f"fast / moto CPU per request: {fast.cpu_ms_per_request / moto.cpu_ms_per_request:.2f}")
        same = (fast.final_balance, fast.usage_records) == (moto.final_balance, moto.usage_records)
        lines.append(
            f"same answers: {'yes' if same else 'NO'} (final balance {fast.final_balance} / {moto.final_balance}, "
            f"usage records {fast.usage_records} / {moto.usage_records})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
