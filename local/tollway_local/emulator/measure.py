"""`python -m tollway_local.emulator.measure`: the numbers quoted in docs/local-emulator.md.

Three measurements, each against a fresh emulator process pinned to one CPU (the client on another):

1. cost per call: emulator CPU (from its /_emulator/stats), client CPU and latency for GetItem,
   conditional PutItem, conditional UpdateItem and a 3-item TransactWriteItems, at concurrency 1 and 8;
2. snapshots at scale: N usage-record-sized items (~600 bytes): the incremental snapshot after 50
   writes, the final (full) snapshot at stop, and the restore at the next start;
3. memory: RSS after M hot-path transactions with and without the `instances_tracked` workaround;
4. transactions by table size: emulator CPU per settle-shaped TransactWriteItems (debit, usage
   record put into a UsageTable of N items, hold put + previous hold delete), applied and cancelled,
   as moto ships it (`--copy-tables`) and with the undo log (`transactions.py`).

A benchmark, not a test: nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tollway_local.emulator.process import EmulatorProcess

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
PAD = "x" * 300


def usage_record(index: int, account: str = "acct-bench") -> dict[str, Any]:
    """A usage record of ~600 bytes as typed JSON, shaped like the relay's."""
    return {
        "account_id": {"S": account},
        "request_id": {"S": f"req-{index:010d}"},
        "key_id": {"S": f"key-{index % 20:04d}"},
        "day_shard": {"S": f"2026-11-28#{index % 16:02d}"},
        "model": {"S": "gpt-4o-mini"},
        "prompt_tokens": {"N": str(100 + index % 900)},
        "completion_tokens": {"N": str(20 + index % 300)},
        "cost_micros": {"N": str(1234 + index)},
        "status": {"S": "ok"},
        "expires_at": {"N": "1900000000"},
        "meta": {"M": {"route": {"S": "/v1/chat/completions"}, "stream": {"BOOL": True}, "pad": {"S": PAD}}},
    }


def _emulator_cpu(emulator: EmulatorProcess) -> float:
    stats = emulator.stats()
    return float(stats["cpu_user_s"]) + float(stats["cpu_system_s"])


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _run_ops(emulator: EmulatorProcess, op: Callable[[Any, int], None], count: int, concurrency: int) -> dict[str, Any]:
    local = threading.local()
    counter = iter(range(10**9))
    lock = threading.Lock()

    def one(_: int) -> float:
        if not hasattr(local, "client"):
            local.client = emulator.client("dynamodb", max_attempts=1, max_pool_connections=concurrency)
        with lock:
            index = next(counter)
        started = time.perf_counter()
        op(local.client, index)
        return time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(50, count))))  # warm-up: clients, connections, moto's caches
        cpu_before, client_before = _emulator_cpu(emulator), time.process_time()
        latencies = list(pool.map(one, range(count)))
        cpu_after, client_after = _emulator_cpu(emulator), time.process_time()
    return {
        "emulator_cpu_ms": round((cpu_after - cpu_before) / count * 1000, 3),
        "client_cpu_ms": round((client_after - client_before) / count * 1000, 3),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def _ops() -> dict[str, Callable[[Any, int], None]]:
    def get(client: Any, index: int) -> None:
        client.get_item(TableName="KeysTable", Key={"key_hash": {"S": f"hash-{index % 100}"}})

    def put(client: Any, index: int) -> None:
        client.put_item(
            TableName="UsageTable",
            Item=usage_record(index, "acct-put") | {"request_id": {"S": f"put-{time.perf_counter_ns()}-{index}"}},
            ConditionExpression="attribute_not_exists(request_id)",
        )

    def update(client: Any, index: int) -> None:
        client.update_item(
            TableName="AccountsTable",
            Key={"account_id": {"S": f"acct-{index % 100}"}},
            UpdateExpression="SET balance = balance - :a, version = version + :one",
            ConditionExpression="balance >= :a",
            ExpressionAttributeValues={":a": {"N": "1"}, ":one": {"N": "1"}},
        )

    previous = threading.local()

    def txn(client: Any, index: int) -> None:
        # The hot path's shape: debit, a new hold, and this worker's previous hold released.
        hold = f"hold-{uuid.uuid4()}"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": "AccountsTable",
                    "Key": {"account_id": {"S": f"acct-{index % 100}"}},
                    "UpdateExpression": "SET balance = balance - :a",
                    "ConditionExpression": "balance >= :a",
                    "ExpressionAttributeValues": {":a": {"N": "1"}},
                }
            },
            {
                "Put": {
                    "TableName": "HoldsTable",
                    "Item": {"hold_id": {"S": hold}, "amount": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(hold_id)",
                }
            },
        ]
        last = getattr(previous, "hold", None)
        if last is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": "HoldsTable",
                        "Key": {"hold_id": {"S": last}},
                        "ConditionExpression": "attribute_exists(hold_id)",
                    }
                }
            )
        client.transact_write_items(TransactItems=items)
        previous.hold = hold

    return {"GetItem": get, "PutItem": put, "UpdateItem": update, "TransactWriteItems(3)": txn}


def _seed_hot_tables(emulator: EmulatorProcess) -> None:
    client = emulator.client("dynamodb")
    for index in range(100):
        client.put_item(
            TableName="AccountsTable",
            Item={"account_id": {"S": f"acct-{index}"}, "balance": {"N": "1000000000"}, "version": {"N": "0"}},
        )
        client.put_item(
            TableName="KeysTable",
            Item={"key_hash": {"S": f"hash-{index}"}, "key_id": {"S": f"k{index}"}, "account_id": {"S": "a"}},
        )


def _seed_usage(emulator: EmulatorProcess, count: int) -> None:
    client = emulator.client("dynamodb")
    for start in range(0, count, 25):
        requests = [{"PutRequest": {"Item": usage_record(index)}} for index in range(start, min(count, start + 25))]
        client.batch_write_item(RequestItems={"UsageTable": requests})


def _wait_clean(emulator: EmulatorProcess, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshots: dict[str, Any] = emulator.stats()["snapshots"]
        if not snapshots["dirty"]:
            return snapshots
        time.sleep(0.05)
    raise TimeoutError("no snapshot")


def measure_ops(work: Path, count: int, cpus: tuple[int, int] | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with EmulatorProcess(work / "ops", TEMPLATE, cpu=cpus[0] if cpus else None) as emulator:
        _seed_hot_tables(emulator)
        for name, op in _ops().items():
            for concurrency in (1, 8):
                results[f"{name} C={concurrency}"] = _run_ops(emulator, op, count, concurrency)
        results["rss_mb_after"] = round(emulator.stats()["rss_bytes"] / 2**20, 1)
    return results


def measure_snapshots(work: Path, items: int, cpus: tuple[int, int] | None) -> dict[str, Any]:
    state = work / "snap"
    cpu = cpus[0] if cpus else None
    results: dict[str, Any] = {"items": items}
    with EmulatorProcess(state, TEMPLATE, cpu=cpu) as emulator:
        started = time.perf_counter()
        _seed_usage(emulator, items)
        results["seed_s"] = round(time.perf_counter() - started, 2)
        _wait_clean(emulator)
        client = emulator.client("dynamodb")
        for index in range(50):
            client.put_item(TableName="UsageTable", Item=usage_record(items + index))
        incremental = _wait_clean(emulator)
        results["rss_mb_with_items"] = round(emulator.stats()["rss_bytes"] / 2**20, 1)
        results["incremental_snapshot_50_changes"] = {
            "lock_s": incremental["last_capture_s"],
            "write_s": incremental["last_write_s"],
            "file_mb": round(incremental["last_bytes"] / 2**20, 1),
        }
        client.put_item(TableName="UsageTable", Item=usage_record(items + 50))
        started = time.perf_counter()
    # __exit__ sent SIGTERM and waited: a full capture and write, then the process exit.
    results["stop_with_full_snapshot_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    with EmulatorProcess(state, TEMPLATE, cpu=cpu) as emulator:
        results["start_with_restore_s"] = round(time.perf_counter() - started, 2)
        restored = emulator.stats()["restored"]
        results["restore"] = {"check_s": restored["read_s"], "apply_s": restored["apply_s"], "items": restored["items"]}
        results["rss_mb_after_restore"] = round(emulator.stats()["rss_bytes"] / 2**20, 1)
    return results


def measure_snapshots_in_process(work: Path, items: int) -> dict[str, Any]:
    """The same snapshot and restore steps on in-process moto, timed one by one."""
    import gc

    import boto3  # type: ignore[import-untyped, unused-ignore]
    from moto import mock_aws

    from tollway_local.emulator import tracking
    from tollway_local.emulator.backends import Backends
    from tollway_local.emulator.resources import create_resources
    from tollway_local.emulator.restore import read_snapshot, restore_snapshot
    from tollway_local.emulator.snapshot import Snapshotter
    from tollway_local.emulator.template import load_template

    directory = work / "in-process" / "emulator"
    template = load_template(TEMPLATE)
    results: dict[str, Any] = {"items": items}
    tracking.install()
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_resources(session, template)
        client: Any = session.client("dynamodb")
        for start in range(0, items, 25):
            batch = [{"PutRequest": {"Item": usage_record(index)}} for index in range(start, min(items, start + 25))]
            client.batch_write_item(RequestItems={"UsageTable": batch})
        snapshotter = Snapshotter(directory, Backends(region="us-east-1"))
        tracking.activate(snapshotter.changes)
        try:
            capture = snapshotter.capture(full=True)
            stats = snapshotter.write(capture)
            results["full"] = {"lock_s": round(stats.capture_s, 3), "write_s": round(stats.write_s, 3)}
            results["file_mb"] = round(stats.bytes / 2**20, 1)
            for index in range(50):
                client.put_item(TableName="UsageTable", Item=usage_record(items + index))
            stats = snapshotter.write(snapshotter.capture())
            results["incremental_50"] = {"lock_s": round(stats.capture_s, 4), "write_s": round(stats.write_s, 3)}
        finally:
            tracking.activate(None)
    with mock_aws():
        create_resources(boto3.Session(region_name="us-east-1"), template)
        started = time.perf_counter()
        snapshot = read_snapshot(directory / "snapshot.jsonl")
        parsed = time.perf_counter()
        assert snapshot is not None  # noqa: S101
        restored = restore_snapshot(snapshot, Backends(region="us-east-1"))
        applied = time.perf_counter()
        gc.collect()
        gc.freeze()
        results["restore"] = {
            "read_structure_s": round(parsed - started, 3),
            "check_s": round(restored.read_s, 3),
            "apply_s": round(restored.apply_s, 3),
            "gc_collect_freeze_s": round(time.perf_counter() - applied, 3),
        }
        gc.unfreeze()
    return results


def measure_memory(work: Path, transactions: int, cpus: tuple[int, int] | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    txn = _ops()["TransactWriteItems(3)"]
    for label, extra in (("workaround", ()), ("no workaround", ("--no-untrack", "--no-gc-freeze"))):
        cpu = cpus[0] if cpus else None
        with EmulatorProcess(work / label.replace(" ", "-"), TEMPLATE, cpu=cpu, extra_args=extra) as emulator:
            _seed_hot_tables(emulator)
            before = emulator.stats()["rss_bytes"]
            timing = _run_ops(emulator, txn, transactions, 1)
            stats = emulator.stats()
            results[label] = {
                "rss_mb_before": round(before / 2**20, 1),
                "rss_mb_after": round(stats["rss_bytes"] / 2**20, 1),
                "tracked_instances": sum(stats["tracked_instances"].values()),
                **timing,
            }
    return results


def _settle_shaped(index: int, hold: str, previous: str | None, *, fail: bool) -> list[dict[str, Any]]:
    """Debit, usage record, new hold, previous hold released; `fail` makes the last item's condition fail."""
    record = usage_record(index, "acct-txn") | {"request_id": {"S": f"txn-{uuid.uuid4()}"}}
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": "AccountsTable",
                "Key": {"account_id": {"S": f"acct-{index % 100}"}},
                "UpdateExpression": "SET balance = balance - :a",
                "ConditionExpression": "balance >= :a",
                "ExpressionAttributeValues": {":a": {"N": "1"}},
            }
        },
        {"Put": {"TableName": "UsageTable", "Item": record, "ConditionExpression": "attribute_not_exists(request_id)"}},
        {
            "Put": {
                "TableName": "HoldsTable",
                "Item": {"hold_id": {"S": hold}, "amount": {"N": "1"}},
                "ConditionExpression": "attribute_not_exists(hold_id)",
            }
        },
    ]
    if previous is not None or fail:
        items.append(
            {
                "Delete": {
                    "TableName": "HoldsTable",
                    "Key": {"hold_id": {"S": "no-such-hold" if fail else previous}},
                    "ConditionExpression": "attribute_exists(hold_id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        )
    return items


def _transactions_cell(emulator: EmulatorProcess, count: int, *, fail: bool) -> dict[str, Any]:
    client = emulator.client("dynamodb", max_attempts=1)
    previous: str | None = None
    cancelled = 0
    latencies: list[float] = []
    cpu_before = _emulator_cpu(emulator)
    for index in range(count):
        hold = f"hold-{uuid.uuid4()}"
        started = time.perf_counter()
        try:
            client.transact_write_items(TransactItems=_settle_shaped(index, hold, previous, fail=fail))
            previous = hold
        except client.exceptions.TransactionCanceledException:
            cancelled += 1
        latencies.append(time.perf_counter() - started)
    cpu_after = _emulator_cpu(emulator)
    client.close()
    return {
        "emulator_cpu_ms": round((cpu_after - cpu_before) / count * 1000, 3),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "cancelled": cancelled,
    }


def measure_transactions(
    work: Path, sizes: list[int], count: int, cpus: tuple[int, int] | None, snapshot_interval: float
) -> dict[str, Any]:
    """Emulator CPU per 4-item transaction as the UsageTable grows, moto's copies against the undo log."""
    results: dict[str, Any] = {}
    modes = (
        ("moto copies tables", ("--copy-tables",), snapshot_interval),
        ("undo log", (), snapshot_interval),
        # The same with the periodic snapshot out of the way: what snapshots add to each call.
        ("undo log, no periodic snapshot", (), 100_000.0),
    )
    for number, (label, extra, interval) in enumerate(modes):
        cpu = cpus[0] if cpus else None
        args = (*extra, "--snapshot-interval", str(interval))
        with EmulatorProcess(work / f"txn-{number}", TEMPLATE, cpu=cpu, extra_args=args) as emulator:
            _seed_hot_tables(emulator)
            seeded = 0
            for size in sorted(sizes):
                _seed_usage_from(emulator, seeded, size)
                seeded = size
                emulator.gc_freeze()
                applied = _transactions_cell(emulator, count, fail=False)
                cancelled = _transactions_cell(emulator, count, fail=True)
                seeded += count  # the applied transactions each put a record
                results[f"{label}, UsageTable {size}"] = {"applied": applied, "cancelled": cancelled}
            results[f"{label}: emulator transactions"] = emulator.stats().get("transactions")
    return results


def _seed_usage_from(emulator: EmulatorProcess, start: int, stop: int) -> None:
    client = emulator.client("dynamodb")
    for first in range(start, stop, 25):
        requests = [{"PutRequest": {"Item": usage_record(index)}} for index in range(first, min(stop, first + 25))]
        client.batch_write_item(RequestItems={"UsageTable": requests})
    client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tollway_local.emulator.measure", description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--no-pin", action="store_true", help="don't pin emulator (CPU 0) and client (CPU 1)")
    parser.add_argument("--only", choices=("ops", "snapshots", "memory", "transactions"))
    parser.add_argument("--sizes", default="0,2000,10000", help="UsageTable sizes for the transactions cells")
    parser.add_argument("--txn-count", type=int, default=100, help="transactions per cell (applied, then cancelled)")
    parser.add_argument("--txn-snapshot-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    cpus = None if args.no_pin or (os.cpu_count() or 1) < 2 else (0, 1)
    if cpus is not None:
        os.sched_setaffinity(0, {cpus[1]})
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="emulator-measure-") as tmp:
        work = Path(tmp)
        if args.only in (None, "ops"):
            report["ops"] = measure_ops(work, args.ops, cpus)
        if args.only in (None, "snapshots"):
            report["snapshots_in_process"] = measure_snapshots_in_process(work, args.items)
            report["snapshots"] = measure_snapshots(work, args.items, cpus)
        if args.only in (None, "memory"):
            report["memory"] = measure_memory(work, args.transactions, cpus)
        if args.only in (None, "transactions"):
            sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
            report["transactions"] = measure_transactions(work, sizes, args.txn_count, cpus, args.txn_snapshot_interval)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
