"""`python -m bench.chaos [--requests N] [--concurrency C] [--store-faults RATE] [--seed S] [--max-seconds T]`

A chaos soak, not a timed test: the real local stack (`tollway local`: emulator, relay and admin on
loopback) under load — chat completions streaming and not, upstream faults, Midjourney submits with
their callbacks and fetches, redemptions, and an operator script changing keys all the while — with a
seeded fraction of the store's writes faulted (the emulator's fault mode: TransactionConflict,
throttling, InternalServerError, lost responses). Then the faults stop, maintenance runs and the
audit checks the ledger. Bounded in requests and in time; loopback only.

Prints, and writes to `bench/results/chaos-<UTC time>.json`: requests served / refused / failed (by
status and error code), usage records written vs requests answered, open holds after maintenance,
audit differences (must be 0), 500s (must be 0). Exit status 1 if any of those is off.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tollway_local.mock import MockConfig, MockServer

from tests.support.stack import Customer, LocalStack

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "t-exact"
GROUP = "chaos"

# What each request of the load is, by weight.
MIX: tuple[tuple[str, int], ...] = (
    ("chat", 36),
    ("chat_stream", 36),
    ("chat_upstream_fault", 5),
    ("stream_upstream_fault", 5),
    ("mj_imagine", 8),
    ("mj_fetch", 4),
    ("redeem", 6),
)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)  # status:code
    answered_by_account: collections.Counter[str] = field(default_factory=collections.Counter)
    mj_tasks: list[tuple[str, str]] = field(default_factory=list)  # (task id, its owner's key)
    key_changes: int = 0
    key_change_errors: collections.Counter[str] = field(default_factory=collections.Counter)

    def note(self, kind: str, account_id: str | None, status: int, code: str) -> None:
        with self.lock:
            self.by_kind[kind] += 1
            self.outcomes[f"{status}:{code}"] += 1
            if account_id is not None and kind.startswith(("chat", "stream")) and status != 401:
                self.answered_by_account[account_id] += 1

    def classes(self) -> dict[str, int]:
        served = refused = failed = 0
        for key, n in self.outcomes.items():
            status = int(key.split(":", 1)[0])
            if status < 400:
                served += n
            elif status < 500:
                refused += n
            else:
                failed += n
        return {"served": served, "refused": refused, "failed": failed}


def _error_code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or error.get("type") or "")
        if "code" in body:
            return f"mj{body['code']}"
    return ""


@dataclass
class World:
    stack: LocalStack
    mock: MockServer
    customers: list[Customer]
    limited_keys: list[str]  # key ids the operator script changes the limit of
    codes: list[str]
    seed: int

    def request(self, http: httpx.Client, kind: str, rng: random.Random, tally: Tally) -> None:
        who = rng.choice(self.customers)
        url = self.stack.url
        auth = {"authorization": f"Bearer {who.key}"}
        prompt = f"chaos {rng.randrange(10**6)} [[len={rng.randrange(4, 24)}]]"
        if kind == "chat_upstream_fault":
            prompt += " [[fault:" + rng.choice(["http500", "http503", "http429"]) + "]]"
        if kind == "stream_upstream_fault":
            prompt += " [[fault:" + rng.choice(["cut_after=3", "malformed_sse_after=2", "sse_error_after=2"]) + "]]"
        if kind.startswith(("chat", "stream")):
            stream = kind in ("chat_stream", "stream_upstream_fault")
            body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}
            if stream:
                with http.stream("POST", f"{url}/v1/chat/completions", json=body, headers=auth) as response:
                    raw = b"".join(response.iter_bytes())
                code = "" if response.status_code < 400 else _code_of_bytes(raw)
                if response.status_code < 400 and b'"error"' in raw:
                    code = "stream_error"
                tally.note(kind, who.account_id, response.status_code, code)
            else:
                response = http.post(f"{url}/v1/chat/completions", json=body, headers=auth)
                tally.note(kind, who.account_id, response.status_code, _error_code(response))
        elif kind == "mj_imagine":
            response = http.post(
                f"{url}/mj/submit/imagine", json={"prompt": prompt}, headers={"mj-api-secret": who.key}
            )
            answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if response.status_code == 200 and answer.get("code") == 1:
                with tally.lock:
                    tally.mj_tasks.append((str(answer["result"]), who.key))
            code = "" if answer.get("code") in (1, 22) else f"mj{answer.get('code')}"
            tally.note(kind, None, response.status_code, code)
        elif kind == "mj_fetch":
            with tally.lock:
                task = rng.choice(tally.mj_tasks) if tally.mj_tasks else None
            if task is None:
                return
            task_id, owner = task
            response = http.get(f"{url}/mj/task/{task_id}/fetch", headers={"mj-api-secret": owner})
            tally.note(kind, None, response.status_code, "" if response.status_code < 400 else _error_code(response))
        elif kind == "redeem":
            with tally.lock:
                code = self.codes.pop() if self.codes else None
            if code is None:
                return
            response = http.post(f"{url}/api/redeem", json={"code": code}, headers=auth)
            tally.note(kind, None, response.status_code, _error_code(response))


def _code_of_bytes(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _operator_script(world: World, stop: threading.Event, tally: Tally, rng: random.Random) -> None:
    """Keys change under traffic: renames of every key (each moves its account's key_rev) and the
    limit of the limited keys."""
    keys = [c.key_id for c in world.customers]
    while not stop.is_set():
        if world.limited_keys and rng.random() < 0.3:
            args: dict[str, Any] = {
                "key_id": rng.choice(world.limited_keys),
                "limit_usd": f"{rng.randrange(20, 40)}.00",
            }
        else:
            args = {"key_id": rng.choice(keys), "name": f"renamed {rng.randrange(10**6)}"}
        envelope = world.stack.admin_envelope("key.update", **args)
        with tally.lock:
            tally.key_changes += 1
            if not envelope.get("ok"):
                tally.key_change_errors[str(envelope.get("error", {}).get("code"))] += 1
        stop.wait(0.01)


def _set_store_faults(stack: LocalStack, plan: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{stack.info['emulator']}/_emulator/faults", json=plan, timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _store_fault_counts(stack: LocalStack) -> dict[str, int]:
    stats = httpx.get(f"{stack.info['emulator']}/_emulator/stats", timeout=10).json()
    counts: dict[str, int] = stats.get("faults", {}).get("counts", {})
    return counts


def _open_holds(stack: LocalStack) -> int:
    client = stack.dynamodb()
    pages = client.get_paginator("scan").paginate(TableName="HoldsTable", ConsistentRead=True)
    return sum(1 for page in pages for item in page.get("Items", []) if item["state"]["S"] == "open")


def _seed(
    stack: LocalStack, mock: MockServer, accounts: int, codes: int
) -> tuple[list[Customer], list[str], list[str]]:
    stack.admin("group.set", name=GROUP)
    stack.channel([MODEL], mock.base_url, groups=[GROUP])
    stack.admin("mj.add-channel", name="chaos mj", base_url=mock.url, api_key="mj-upstream-key", groups=[GROUP])
    customers: list[Customer] = []
    limited: list[str] = []
    for n in range(accounts):
        first = stack.customer(credit_usd="200.00", group=GROUP)
        customers.append(first)
        for extra in range(2):
            limit = {"limit_usd": "30.00"} if extra == 0 else {}
            key = stack.admin("key.create", account_id=first.account_id, name=f"k{n}.{extra}", **limit)
            customers.append(Customer(first.account_id, key["key"], key["key_id"]))
            if limit:
                limited.append(key["key_id"])
    batch = stack.admin("redeem.create", value_usd="1.00", count=max(1, codes), name="chaos")
    return customers, limited, list(batch["codes"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    kinds = [k for k, w in MIX for _ in range(w)]
    plan = [rng.choice(kinds) for _ in range(args.requests)]
    with tempfile.TemporaryDirectory(prefix="tollway-chaos-") as tmp, MockServer(MockConfig.fast()) as mock:
        env = {
            "TOLLWAY_HOLD_TIMEOUT_S": str(args.hold_timeout),
            "TOLLWAY_SETTLED_GRACE_S": "1",
            "TOLLWAY_MJ_REFRESH_AFTER_S": "0",
        }
        stack = LocalStack(Path(tmp), env=env).start()
        try:
            customers, limited, codes = _seed(stack, mock, args.accounts, plan.count("redeem"))
            world = World(stack, mock, customers, limited, codes, args.seed)
            tally = Tally()
            load = _load(args, world, plan, tally)
            return {**load, **_aftermath(args, world, tally)}
        finally:
            stack.stop()


def _load(args: argparse.Namespace, world: World, plan: list[str], tally: Tally) -> dict[str, Any]:
    """The load at C=``concurrency`` with the operators and the store's faults (and outage) meanwhile."""
    stack = world.stack
    if args.store_faults:
        _set_store_faults(stack, {"rate": args.store_faults, "seed": args.seed})
    stop = threading.Event()
    helpers = [
        threading.Thread(
            target=_operator_script,
            args=(world, stop, tally, random.Random(args.seed + 1 + n)),
            daemon=True,
        )
        for n in range(args.operators)
    ]
    queue = collections.deque(plan)
    deadline = time.monotonic() + args.max_seconds
    queue_lock = threading.Lock()
    errors: list[str] = []
    outage: dict[str, float] = {}
    started = time.monotonic()

    def worker(n: int) -> None:
        wrng = random.Random(args.seed * 1000 + n)
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                with queue_lock:
                    if not queue:
                        return
                    kind = queue.popleft()
                try:
                    world.request(http, kind, wrng, tally)
                except httpx.HTTPError as exc:
                    tally.note(kind, None, 599, type(exc).__name__)
                except Exception as exc:  # a bug in the soak itself: reported, the run goes on
                    errors.append(repr(exc))

    def store_outage() -> None:
        """The store down for ``--outage`` seconds in the middle of the load (every write faulted)."""
        if stop.wait(args.outage_after):
            return
        _set_store_faults(stack, {"rate": 1.0, "seed": args.seed, "kinds": ["internal", "throttling"]})
        outage["from"] = time.monotonic() - started
        stop.wait(args.outage)
        _set_store_faults(stack, {"rate": args.store_faults, "seed": args.seed + 7})
        outage["to"] = time.monotonic() - started

    if args.outage:
        helpers.append(threading.Thread(target=store_outage, daemon=True))
    for helper in helpers:
        helper.start()
    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    load_s = time.monotonic() - started
    stop.set()
    for helper in helpers:
        helper.join()
    faulted = args.store_faults or args.outage
    store_faults = _store_fault_counts(stack) if faulted else {}
    if faulted:
        _set_store_faults(stack, {"rate": 0})
    return {
        "requests_planned": args.requests,
        "requests_sent": sum(tally.by_kind.values()),
        "concurrency": args.concurrency,
        "store_fault_rate": args.store_faults,
        "seed": args.seed,
        "load_seconds": round(load_s, 1),
        "outage_seconds": args.outage,
        "outage_window": {k: round(v, 1) for k, v in outage.items()},
        "store_faults_injected": store_faults,
        "store_faults_total": sum(store_faults.values()),
        "soak_errors": errors[:20],
    }


def _aftermath(args: argparse.Namespace, world: World, tally: Tally) -> dict[str, Any]:
    """Faults off: the tasks finish, the hold timeout passes, maintenance runs twice, the audit runs."""
    stack = world.stack
    # MJ tasks finish on the mock; fetches drive the updates the callbacks may have missed.
    with httpx.Client(timeout=30) as http:
        for task_id, owner in list(tally.mj_tasks):
            http.get(f"{stack.url}/mj/task/{task_id}/fetch", headers={"mj-api-secret": owner})
    time.sleep(args.hold_timeout + 1.5)  # every hold older than the timeout: orphans are orphans
    maintenance = stack.admin("maintenance.sweep")
    maintenance_again = stack.admin("maintenance.sweep")
    mj_sweep = stack.admin("mj.sweep")
    open_holds = _open_holds(stack)
    audit = stack.audit()
    accounts = sorted({c.account_id for c in world.customers})
    relay_records = [r for a in accounts for r in stack.records(a) if r.get("endpoint") == "chat.completions"]
    answered = sum(tally.answered_by_account.values())
    return {
        "by_kind": dict(tally.by_kind),
        **tally.classes(),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "http_500": sum(n for key, n in tally.outcomes.items() if key.startswith("500:")),
        "store_unavailable_503": tally.outcomes.get("503:store_unavailable", 0),
        "key_changes": tally.key_changes,
        "key_change_errors": dict(tally.key_change_errors),
        "mj_tasks": len(tally.mj_tasks),
        "chat_answered": answered,
        "chat_records": len(relay_records),
        "chat_records_missing": answered - len(relay_records),
        "orphaned_records": sum(1 for r in relay_records if r.get("status") == "orphaned"),
        "metering_failed_records": sum(1 for r in relay_records if r.get("error_code") == "metering_failed"),
        "maintenance": {k: maintenance.get(k) for k in ("repaired", "refunded", "settled_due", "failed", "open_holds")},
        "maintenance_again": {k: maintenance_again.get(k) for k in ("repaired", "refunded", "failed")},
        "mj_sweep": mj_sweep,
        "open_holds_after_maintenance": open_holds,
        "audit_ok": audit["ok"],
        "audit_accounts": audit["accounts"],
        "audit_differences": len(audit["differences"]),
        "audit_difference_details": audit["differences"],
    }


def _print(result: dict[str, Any]) -> None:
    print(f"chaos soak: {result['requests_sent']} requests at C={result['concurrency']} in {result['load_seconds']} s, "
          f"{result['store_faults_total']} store faults injected ({result['store_fault_rate']:.0%} of writes), "
          f"{result['key_changes']} key changes")  # fmt: skip
    counts = f"served {result['served']}  refused {result['refused']}  failed {result['failed']}"
    print(f"  {counts}  (500s: {result['http_500']})")
    for outcome, n in result["outcomes"].items():
        print(f"    {outcome:40s} {n}")
    print(f"  chat answered {result['chat_answered']}  usage records {result['chat_records']}  "
          f"missing {result['chat_records_missing']}  orphaned {result['orphaned_records']}")  # fmt: skip
    if result["outage_seconds"]:
        print(f"  store down {result['outage_window']} s into the load: "
              f"{result['store_unavailable_503']} × 503 store_unavailable")  # fmt: skip
    print(f"  MJ tasks {result['mj_tasks']}  maintenance {result['maintenance']}  then {result['maintenance_again']}")
    print(f"  open holds after maintenance {result['open_holds_after_maintenance']}  "
          f"audit differences {result['audit_differences']} over {result['audit_accounts']} accounts")  # fmt: skip
    if result["soak_errors"]:
        print(f"  soak errors: {result['soak_errors']}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[1])
    parser.add_argument("--requests", type=int, default=600, help="requests in all (default 600)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store-faults", type=float, default=0.05, help="fraction of store writes faulted")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4, help="accounts, each with 3 keys (one limited)")
    parser.add_argument("--operators", type=int, default=3, help="threads changing keys meanwhile")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop sending after this long")
    parser.add_argument("--hold-timeout", type=float, default=8.0, help="the stack's hold timeout (s)")
    parser.add_argument("--outage", type=float, default=0.0, help="seconds the store is down mid-load")
    parser.add_argument("--outage-after", type=float, default=10.0, help="when the outage starts (s)")
    parser.add_argument("--out", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = run(args)
    _print(result)
    out = args.out or RESULTS / f"chaos-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  results: {out}")
    # A request refused with 503 while the store was down may have no record (the store could not
    # take it either); any other missing record is a lost one.
    lost = result["chat_records_missing"] - (result["store_unavailable_503"] if result["outage_seconds"] else 0)
    bad = (
        result["http_500"]
        or result["audit_differences"]
        or result["open_holds_after_maintenance"]
        or lost > 0
        or result["soak_errors"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
