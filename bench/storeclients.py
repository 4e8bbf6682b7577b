"""`python -m bench.storeclients [--calls 300] [--cells 1,16] [--clients a,b] [--no-pin] [--canned]`: one
store call, many ways.

What the relay pays, in its own process, for one DynamoDB transaction from its asyncio event loop,
with each candidate client against the local emulator (loopback, emulator pinned to CPU 0 and this
process to CPU 1 when the machine has two):

- `boto3-thread`: botocore's blocking client run through `anyio.to_thread.run_sync` (what the
  relay does today), on the relay's uvloop;
- `boto3-inline`: the same client called on the loop (C=1 only: the thread hop's share, and what
  would stall every stream while a call is out);
- `wire-thread`: tollway's own thin JSON-protocol client (`tollway.dynamo_wire`, the
  `store_client = "wire"` setting) in the same worker thread;
- `wire-loop`: the same wire client called from synchronous code bridged on the loop
  (`tollway.bridge.run_bridged`; its calls go over `tollway.dynamo_loop`'s connections): the relay's
  hot path with `store_client = "wire"`;
- `aiodynamo`: aiodynamo's async client over httpx, sending the relay's own request shape through
  its public `send_request` (its typed `transact_write_items` cannot ask for
  ReturnValuesOnConditionCheckFailure, and its `TransactionCanceled` drops the returned items);
- `aws-sdk-dynamodb` (the async AWS SDK for Python, preview): measured only where it installs (it
  requires Python >= 3.12), otherwise reported as unavailable.

Per client and concurrency: client CPU per call (this whole process: loop and worker threads),
latency p50/p99, emulator CPU per call (for scale), and two correctness checks: a cancelled
transaction's reason carries the failed item's balance (the clamp reads it), and a ClientRequestToken
travels with the request. A benchmark, not a test: nothing is asserted about time; bounded by
`--calls` per cell. `--canned` runs the timed cells of boto3 and the wire client against
`bench.cannedstore` (a stand-in that answers at once, in its own process) instead: the client's own
CPU without the emulator's ~5 ms per call and its noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.faultproxy import FaultProxy, Seen
from bench.stats import percentile

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
ACCOUNTS = 100
POOR_BALANCE = 5

__all__ = ["Cancelled", "failed_item_balance", "main", "settle_items"]


class Cancelled(Exception):
    """A cancelled transaction, whatever the client: the raw CancellationReasons."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("cancelled")
        self.reasons = reasons


Call = Callable[[list[dict[str, Any]], str], Awaitable[None]]


def settle_items(worker: int, index: int, hold: str, previous: str | None) -> list[dict[str, Any]]:
    """The hot path's shape: debit one account, a new hold, the worker's previous hold released."""
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": "AccountsTable",
                "Key": {"account_id": {"S": f"acct-{(worker * 7 + index) % ACCOUNTS}"}},
                "UpdateExpression": "SET balance = balance - :a",
                "ConditionExpression": "balance >= :a",
                "ExpressionAttributeValues": {":a": {"N": "1"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
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
    if previous is not None:
        items.append(
            {
                "Delete": {
                    "TableName": "HoldsTable",
                    "Key": {"hold_id": {"S": previous}},
                    "ConditionExpression": "attribute_exists(hold_id)",
                }
            }
        )
    return items


def overdraw_items(hold: str) -> list[dict[str, Any]]:
    """A debit the poor account cannot pay: cancelled, and the reason must carry its balance."""
    return [
        {
            "Update": {
                "TableName": "AccountsTable",
                "Key": {"account_id": {"S": "acct-poor"}},
                "UpdateExpression": "SET balance = balance - :a",
                "ConditionExpression": "balance >= :a",
                "ExpressionAttributeValues": {":a": {"N": str(POOR_BALANCE + 10)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {"Put": {"TableName": "HoldsTable", "Item": {"hold_id": {"S": hold}, "amount": {"N": "15"}}}},
    ]


def failed_item_balance(reasons: list[dict[str, Any]]) -> int | None:
    """The balance in the first ConditionalCheckFailed reason's item (None if the client lost it)."""
    for reason in reasons:
        if reason.get("Code") == "ConditionalCheckFailed":
            balance = (reason.get("Item") or {}).get("balance")
            return int(balance["N"]) if balance else None
    return None


# ---- the clients ----


@dataclass(slots=True)
class Candidate:
    name: str
    call: Call
    close: Callable[[], Awaitable[None]]
    concurrency_ok: bool = True


def _boto3_client(endpoint: str) -> Any:
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    # The relay's settings (tollway.dynamo.boto_config): standard retries, no client-side validation.
    config = Config(
        region_name="us-east-1",
        retries={"max_attempts": 4, "mode": "standard"},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=64,
        tcp_keepalive=True,
        parameter_validation=False,
    )
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("dynamodb", endpoint_url=endpoint, config=config)


def _transact_of(client: Any) -> Callable[[list[dict[str, Any]], str], None]:
    """The hot-path transaction through a botocore-shaped ``client`` (boto3 or the wire client, which
    raise the same errors); a cancellation becomes :class:`Cancelled` with its reasons."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    def blocking(items: list[dict[str, Any]], token: str) -> None:
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise Cancelled([dict(r) for r in exc.response.get("CancellationReasons", [])]) from exc
            raise

    return blocking


def boto3_candidate(endpoint: str, *, threaded: bool) -> Candidate:
    import anyio.to_thread

    client = _boto3_client(endpoint)
    blocking = _transact_of(client)

    async def call(items: list[dict[str, Any]], token: str) -> None:
        if threaded:
            await anyio.to_thread.run_sync(blocking, items, token)
        else:
            blocking(items, token)

    async def close() -> None:
        client.close()

    return Candidate("boto3-thread" if threaded else "boto3-inline", call, close, concurrency_ok=threaded)


def wire_candidate(endpoint: str) -> Candidate:
    """tollway.dynamo_wire in a worker thread (``store_client = "wire"``): the same call as boto3-thread."""
    import anyio.to_thread
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from tollway.dynamo_wire import WireClient

    boto = _boto3_client(endpoint)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = WireClient(boto, session.get_credentials())
    blocking = _transact_of(client)

    async def call(items: list[dict[str, Any]], token: str) -> None:
        await anyio.to_thread.run_sync(blocking, items, token)

    async def close() -> None:
        client.close()

    return Candidate("wire-thread", call, close)


def wire_loop_candidate(endpoint: str) -> Candidate:
    """tollway.dynamo_wire bridged on the event loop (tollway.bridge → tollway.dynamo_loop): the same
    synchronous call, no thread hop, the loop's own connections — what the relay's hot path does now."""
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from tollway.bridge import run_bridged
    from tollway.dynamo_wire import WireClient

    boto = _boto3_client(endpoint)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client = WireClient(boto, session.get_credentials())
    blocking = _transact_of(client)

    async def call(items: list[dict[str, Any]], token: str) -> None:
        await run_bridged(blocking, items, token)

    async def close() -> None:
        await client.aclose()
        client.close()

    return Candidate("wire-loop", call, close)


def aiodynamo_candidate(endpoint: str, *, httpx2: bool = False) -> Candidate:
    """aiodynamo over httpx 0.28 (its adapter's own), or over httpx2 (the relay's HTTP client).

    httpx2 has httpx's API, so aiodynamo's adapter drives it as is; only its transport errors are
    not mapped to aiodynamo's retryable ones (a benchmark detail: none happen on loopback).
    """
    from aiodynamo.client import Client
    from aiodynamo.credentials import Key, StaticCredentials
    from aiodynamo.errors import TransactionCanceled
    from aiodynamo.http.httpx import HTTPX
    from aiodynamo.models import DecorelatedJitterRetry
    from yarl import URL

    if httpx2:
        import httpx2 as httpx_module
    else:
        import httpx as httpx_module  # type: ignore[no-redef]
    limits = httpx_module.Limits(max_connections=64, max_keepalive_connections=64)
    http: Any = httpx_module.AsyncClient(limits=limits)
    client = Client(
        HTTPX(http),
        StaticCredentials(Key("testing", "testing")),
        "us-east-1",
        endpoint=URL(endpoint),
        # Its default backs off 2 s, 4 s, ... for 60 s: far too slow for a request in flight.
        throttle_config=DecorelatedJitterRetry(time_limit_secs=2, base_delay_secs=0.05, max_delay_secs=0.5),
    )

    async def call(items: list[dict[str, Any]], token: str) -> None:
        # The low-level shape the relay builds; aiodynamo's typed operations cannot ask for
        # ReturnValuesOnConditionCheckFailure.
        payload = {"TransactItems": items, "ClientRequestToken": token}
        try:
            await client.send_request(action="TransactWriteItems", payload=payload)
        except TransactionCanceled as exc:
            raise Cancelled(list(exc.body.get("CancellationReasons", []))) from exc

    async def close() -> None:
        await http.aclose()

    return Candidate("aiodynamo-httpx2" if httpx2 else "aiodynamo", call, close)


def aws_sdk_candidate(endpoint: str) -> Candidate:
    """The preview async SDK; raises ImportError where it is not installed (it needs Python >= 3.12)."""
    import aws_sdk_dynamodb  # type: ignore[import-not-found]  # noqa: F401

    raise ImportError("aws-sdk-dynamodb is installed but this bench has no adapter for it yet")


# ---- the cells ----


async def _cell(candidate: Candidate, calls: int, concurrency: int, stats: Callable[[], float]) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**9))

    async def worker(number: int) -> None:
        previous: str | None = None
        while (index := next(counter)) < calls:
            hold = f"hold-{uuid.uuid4()}"
            started = time.perf_counter()
            try:
                await candidate.call(settle_items(number, index, hold, previous), str(uuid.uuid4()))
                previous = hold
            except Exception as exc:  # counted and reported: a benchmark keeps going
                errors.append(type(exc).__name__)
            latencies.append(time.perf_counter() - started)

    warm = iter(range(10**9))
    for _ in range(20):  # connections, signing keys, botocore's caches
        hold = f"hold-warm-{next(warm)}-{uuid.uuid4()}"
        await candidate.call(settle_items(0, 0, hold, None), str(uuid.uuid4()))
    emulator_before, cpu_before, wall_before = stats(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    cpu, wall, emulator = time.process_time() - cpu_before, time.perf_counter() - wall_before, stats() - emulator_before
    return {
        "calls": calls,
        "client_cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "emulator_cpu_ms_per_call": round(emulator / calls * 1000, 3),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "calls_per_s": round(calls / wall, 1),
        "errors": errors[:5],
        "error_count": len(errors),
    }


async def _attempt(candidate: Candidate, items: list[dict[str, Any]], token: str) -> tuple[str, int | None]:
    try:
        await candidate.call(items, token)
    except Cancelled as exc:
        return "cancelled", failed_item_balance(exc.reasons)
    except Exception as exc:  # reported as the outcome
        return type(exc).__name__, None
    return "applied", None


async def _correctness(candidate: Candidate, proxy: FaultProxy) -> dict[str, Any]:
    """Through the fault proxy: the clamp's balance, the token, a throttle retried, a lost response."""

    def attempts(token: str) -> list[Seen]:
        return [seen for seen in proxy.seen if seen.token == token]

    token = str(uuid.uuid4())
    outcome, balance = await _attempt(candidate, overdraw_items(f"hold-{uuid.uuid4()}"), token)
    result: dict[str, Any] = {
        "overdraw": outcome,
        "reason_carries_balance": balance == POOR_BALANCE,
        "token_on_the_wire": len(attempts(token)) == 1,
    }
    token = str(uuid.uuid4())
    proxy.fault_next("throttle")
    outcome, _ = await _attempt(candidate, settle_items(0, 1, f"hold-{uuid.uuid4()}", None), token)
    result["throttled_once"] = f"{outcome} after {len(attempts(token))} attempts"
    token = str(uuid.uuid4())
    proxy.fault_next("lost")
    outcome, _ = await _attempt(candidate, settle_items(0, 2, f"hold-{uuid.uuid4()}", None), token)
    # On DynamoDB the repeat with the same token answers as the first did (applied); moto ignores
    # tokens, so there the repeat fails its own hold's condition: "cancelled" is the expected answer.
    result["lost_response"] = f"{outcome}; {len(attempts(token))} attempts carried the token"
    return result


FACTORIES: list[tuple[str, Callable[[str], Candidate]]] = [
    ("boto3-thread", lambda endpoint: boto3_candidate(endpoint, threaded=True)),
    ("boto3-inline", lambda endpoint: boto3_candidate(endpoint, threaded=False)),
    ("wire-thread", wire_candidate),
    ("wire-loop", wire_loop_candidate),
    ("aiodynamo", lambda endpoint: aiodynamo_candidate(endpoint)),
    ("aiodynamo-httpx2", lambda endpoint: aiodynamo_candidate(endpoint, httpx2=True)),
    ("aws-sdk-dynamodb", aws_sdk_candidate),
]


async def run(
    endpoint: str, stats: Callable[[], float], calls: int, cells: list[int], clients: set[str] | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, factory in FACTORIES:
        if clients is not None and name not in clients:
            continue
        try:
            checked = factory(endpoint)
        except ImportError as exc:
            results[name] = {"unavailable": f"{exc} (Python {sys.version.split()[0]})"}
            continue
        await checked.close()
        with FaultProxy(endpoint) as proxy:
            checked = factory(proxy.endpoint)
            try:
                entry: dict[str, Any] = {"correctness": await _correctness(checked, proxy)}
            finally:
                await checked.close()
        candidate = factory(endpoint)
        try:
            for concurrency in cells:
                if concurrency > 1 and not candidate.concurrency_ok:
                    continue
                entry[f"C={concurrency}"] = await _cell(candidate, calls, concurrency, stats)
                print(f"storeclients: {name} C={concurrency} {entry[f'C={concurrency}']}", file=sys.stderr)
            results[name] = entry
        finally:
            await candidate.close()
    return results


def _seed(emulator: Any) -> None:
    client = emulator.client("dynamodb")
    for index in range(ACCOUNTS):
        client.put_item(
            TableName="AccountsTable",
            Item={"account_id": {"S": f"acct-{index}"}, "balance": {"N": "1000000000"}},
        )
    client.put_item(
        TableName="AccountsTable", Item={"account_id": {"S": "acct-poor"}, "balance": {"N": str(POOR_BALANCE)}}
    )
    client.close()


def _canned(args: argparse.Namespace, cells: list[int], cpus: tuple[int, int] | None) -> int:
    """The timed cells only, against bench.cannedstore in its own process (no correctness checks: it
    stores nothing)."""
    import subprocess

    argv = [sys.executable, "-m", "bench.cannedstore"] + (["--cpu", str(cpus[0])] if cpus else [])
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert server.stdout is not None
        endpoint = f"http://127.0.0.1:{int(server.stdout.readline())}"
        results: dict[str, Any] = {}

        async def cells_of(factory: Callable[[str], Candidate]) -> dict[str, Any]:
            candidate = factory(endpoint)
            try:
                entry: dict[str, Any] = {}
                for concurrency in cells:
                    if concurrency == 1 or candidate.concurrency_ok:
                        entry[f"C={concurrency}"] = await _cell(candidate, args.calls, concurrency, lambda: 0.0)
                        print(
                            f"storeclients: {candidate.name} C={concurrency} {entry[f'C={concurrency}']}",
                            file=sys.stderr,
                        )
                return entry
            finally:
                await candidate.close()

        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            chosen = {part.strip() for part in args.clients.split(",")} if args.clients else None
            for name, factory in FACTORIES:
                if (chosen is None or name in chosen) and not name.startswith(("aiodynamo", "aws-sdk")):
                    results[name] = runner.run(cells_of(factory))
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    document = {"python": sys.version.split()[0], "calls_per_cell": args.calls, "canned": True, "results": results}
    text = json.dumps(document, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storeclients", description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="transactions per cell")
    parser.add_argument("--cells", default="1,16", help="concurrencies")
    parser.add_argument("--clients", help="only these candidates (comma-separated names)")
    parser.add_argument("--no-pin", action="store_true", help="don't pin emulator (CPU 0) and client (CPU 1)")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    parser.add_argument(
        "--canned",
        action="store_true",
        help="against bench.cannedstore (answers at once) instead of the emulator: client CPU without its noise",
    )
    args = parser.parse_args(argv)
    cells = [int(part) for part in args.cells.split(",") if part.strip()]
    cpus = None if args.no_pin or (os.cpu_count() or 1) < 2 else (0, 1)
    if cpus is not None:
        os.sched_setaffinity(0, {cpus[1]})
    if args.canned:
        return _canned(args, cells, cpus)

    from tollway_local.emulator.process import EmulatorProcess

    with tempfile.TemporaryDirectory(prefix="storeclients-") as tmp:
        with EmulatorProcess(Path(tmp), TEMPLATE, cpu=cpus[0] if cpus else None) as emulator:
            _seed(emulator)
            emulator.gc_freeze()

            def emulator_cpu() -> float:
                stats = emulator.stats()
                return float(stats["cpu_user_s"]) + float(stats["cpu_system_s"])

            loop_factory: Any = None
            with contextlib.suppress(ImportError):
                import uvloop

                loop_factory = uvloop.new_event_loop
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                clients = {part.strip() for part in args.clients.split(",")} if args.clients else None
                results = runner.run(run(emulator.endpoint, emulator_cpu, args.calls, cells, clients))
    document = {"python": sys.version.split()[0], "calls_per_cell": args.calls, "pinned": cpus, "results": results}
    text = json.dumps(document, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
