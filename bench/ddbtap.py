"""A recording HTTP proxy between a relay and the emulator: every store call, by operation, with the
items it wrote before and after (read from the emulator around the call), so write units can be
computed by DynamoDB's rules (`capacity.py`) from what the relay actually did.

Calls pass one at a time (the emulator serialises them anyway); around each write the proxy reads
the touched items with a ConsistentRead GetItem of its own, straight to the emulator (not counted).
Only for the counting phase: the proxy costs latency, so the timed cells never go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.capacity import TableSchema, WriteCost, item_size, read_units, write_cost

__all__ = ["DynamoTap", "StoreCall", "analyse", "by_phase", "call_costs", "call_read_units", "touched_items"]

Key = dict[str, Any]
Snapshot = Callable[[str, Key], "dict[str, Any] | None"]

_WRITE_ACTIONS = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}


@dataclass(slots=True)
class StoreCall:
    t: float  # when the proxy received the request
    service: str
    operation: str
    request: dict[str, Any]
    status: int = 0
    response: dict[str, Any] | None = None
    # (table, action, transactional, before, after) per written or checked item
    images: list[tuple[str, str, bool, dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def is_write(self) -> bool:
        return self.service == "dynamodb" and self.operation in (
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
        )

    def signature(self) -> str:
        """`TransactWriteItems[Update AccountsTable, ConditionCheck KeysTable, Put HoldsTable]` etc."""
        req = self.request
        parts: list[str] = []
        if self.operation == "TransactWriteItems":
            for action in req.get("TransactItems", []):
                ((kind, body),) = action.items()
                parts.append(f"{kind} {body.get('TableName')}")
        elif self.operation == "BatchWriteItem":
            for table, requests in req.get("RequestItems", {}).items():
                for r in requests:
                    parts.append(f"{'Put' if 'PutRequest' in r else 'Delete'} {table}")
        elif "TableName" in req:
            parts.append(str(req["TableName"]))
        elif "SecretId" in req:
            parts.append("secret")
        return f"{self.operation}[{', '.join(parts)}]" if parts else self.operation


def touched_items(
    operation: str, request: dict[str, Any], schemas: dict[str, TableSchema]
) -> list[tuple[str, str, bool, Key]]:
    """(table, action, transactional, key) of every item a write request writes or checks."""
    out: list[tuple[str, str, bool, Key]] = []

    def key_of(table: str, body: dict[str, Any]) -> Key:
        if "Key" in body:
            return dict(body["Key"])
        return schemas[table].key_of(body["Item"])

    if operation == "PutItem":
        out.append((request["TableName"], "put", False, key_of(request["TableName"], request)))
    elif operation == "UpdateItem":
        out.append((request["TableName"], "update", False, dict(request["Key"])))
    elif operation == "DeleteItem":
        out.append((request["TableName"], "delete", False, dict(request["Key"])))
    elif operation == "BatchWriteItem":
        for table, requests in request.get("RequestItems", {}).items():
            for r in requests:
                if "PutRequest" in r:
                    out.append((table, "put", False, key_of(table, r["PutRequest"])))
                else:
                    out.append((table, "delete", False, dict(r["DeleteRequest"]["Key"])))
    elif operation == "TransactWriteItems":
        for action in request.get("TransactItems", []):
            ((kind, body),) = action.items()
            out.append((body["TableName"], _WRITE_ACTIONS[kind], True, key_of(body["TableName"], body)))
    return out


def _parse_head(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


class DynamoTap:
    """`http://127.0.0.1:<port>` for the relay's TOLLWAY_AWS_ENDPOINT_URL; forwards to `upstream`."""

    def __init__(self, upstream: str, snapshot: Snapshot, schemas: dict[str, TableSchema]) -> None:
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        self.upstream = (host, int(port or 80))
        self.snapshot = snapshot
        self.schemas = schemas
        self.calls: list[StoreCall] = []
        self.url = ""
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def reset(self) -> None:
        self.calls = []

    async def idle(self, quiet_s: float = 0.3, timeout_s: float = 10.0) -> None:
        """Wait until no call has arrived for `quiet_s` (the relay's after-response work is done)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            count = len(self.calls)
            await asyncio.sleep(quiet_s)
            if len(self.calls) == count and not self._lock.locked():
                return

    async def _snap(self, keys: Sequence[tuple[str, str, bool, Key]]) -> list[dict[str, Any] | None]:
        return [await asyncio.to_thread(self.snapshot, table, key) for table, _, _, key in keys]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader: asyncio.StreamReader | None = None
        up_writer: asyncio.StreamWriter | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                received = time.perf_counter()
                headers = _parse_head(head)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                target = headers.get("x-amz-target", "")
                prefix, _, operation = target.partition(".")
                service = "dynamodb" if prefix.startswith("DynamoDB") else prefix.lower() or "unknown"
                try:
                    request = orjson.loads(body) if body else {}
                except orjson.JSONDecodeError:
                    request = {}
                call = StoreCall(received, service, operation or "?", request)
                async with self._lock:
                    touched = touched_items(operation, request, self.schemas) if service == "dynamodb" else []
                    before = await self._snap(touched)
                    if up_writer is None:
                        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
                    assert up_reader is not None
                    up_writer.write(head + body)
                    await up_writer.drain()
                    rhead = await up_reader.readuntil(b"\r\n\r\n")
                    rheaders = _parse_head(rhead)
                    rbody = await up_reader.readexactly(int(rheaders.get("content-length", "0")))
                    after = await self._snap(touched)
                    if rheaders.get("connection", "").lower() == "close":
                        up_writer.close()
                        up_reader = up_writer = None
                call.status = int(rhead.split(b" ", 2)[1])
                with contextlib.suppress(orjson.JSONDecodeError):
                    call.response = orjson.loads(rbody) if rbody else None
                call.images = [
                    (table, action, txn, b, a)
                    for (table, action, txn, _), b, a in zip(touched, before, after, strict=True)
                ]
                self.calls.append(call)
                writer.write(rhead + rbody)
                await writer.drain()
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()


def call_costs(call: StoreCall, schemas: dict[str, TableSchema]) -> list[WriteCost]:
    return [
        write_cost(schemas[table], action, before, after, transactional=txn)
        for table, action, txn, before, after in call.images
    ]


def call_read_units(call: StoreCall) -> float:
    """Read units of a read call from its response (0 for writes and for non-DynamoDB calls)."""
    if call.service != "dynamodb" or call.is_write or call.response is None:
        return 0.0
    consistent = bool(call.request.get("ConsistentRead"))
    if call.operation == "GetItem":
        return read_units(item_size(call.response.get("Item")), consistent=consistent)
    items = call.response.get("Items")
    if isinstance(items, list):
        return read_units(sum(item_size(i) for i in items), consistent=consistent)
    return 0.0


def analyse(calls: Sequence[StoreCall], schemas: dict[str, TableSchema], requests: int) -> dict[str, Any]:
    """Per relayed request: calls by operation and by shape, write units (by table), reads."""
    per_op: Counter[str] = Counter()
    shapes: dict[str, dict[str, Any]] = {}
    units_by_table: Counter[str] = Counter()
    failed = 0
    total_units = 0
    read_calls = 0
    rcu = 0.0
    other = 0
    for call in calls:
        if call.status != 200:
            failed += 1
        if call.service != "dynamodb":
            other += 1
            per_op[f"{call.service}.{call.operation}"] += 1
            continue
        per_op[call.operation] += 1
        shape = shapes.setdefault(
            call.signature(), {"calls": 0, "units": 0, "items": defaultdict(list), "index_units": 0}
        )
        shape["calls"] += 1
        if call.is_write:
            costs = call_costs(call, schemas)
            for cost in costs:
                units_by_table[cost.table] += cost.table_units
                for index, units in cost.index_detail.items():
                    units_by_table[f"{cost.table}.{index}"] += units
                shape["items"][f"{cost.action} {cost.table}"].append(cost.item_bytes)
                shape["index_units"] += cost.index_units
            shape["units"] += sum(c.units for c in costs)
            total_units += sum(c.units for c in costs)
        else:
            read_calls += 1
            rcu += call_read_units(call)
    n = max(1, requests)
    return {
        "requests": requests,
        "calls_per_request": sum(per_op.values()) / n,
        "dynamodb_calls_per_request": (sum(per_op.values()) - other) / n,
        "writes_per_request": sum(v for k, v in per_op.items() if k in _WRITE_OPS) / n,
        "reads_per_request": read_calls / n,
        "other_calls_per_request": other / n,
        "failed_calls": failed,
        "write_units_per_request": total_units / n,
        "read_units_per_request": rcu / n,
        "operations_per_request": {k: v / n for k, v in sorted(per_op.items())},
        "write_units_by_table_per_request": {k: v / n for k, v in sorted(units_by_table.items())},
        "shapes": {
            sig: {
                "calls_per_request": s["calls"] / n,
                "write_units_per_call": s["units"] / s["calls"] if s["calls"] else 0,
                "index_units_per_call": s["index_units"] / s["calls"] if s["calls"] else 0,
                "item_bytes": {k: max(v) for k, v in s["items"].items()},
            }
            for sig, s in shapes.items()
        },
    }


_WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def by_phase(calls: Sequence[StoreCall], windows: Sequence[tuple[float, float | None, float]]) -> dict[str, Any]:
    """Where each call falls in its request's life, for requests sent one at a time with a pause.

    `windows` = (client start, upstream request start or None, client end) per request, in order; a call
    belongs to the last request started before it. Phases: `before_upstream` (the request's upstream
    call had not started), `before_response_end` (upstream started, client not finished) and
    `after_response`. Returns per-request call counts by phase and shape."""
    phases: dict[str, Counter[str]] = {
        p: Counter() for p in ("before_upstream", "before_response_end", "after_response")
    }
    unattributed = 0
    starts = [w[0] for w in windows]
    for call in calls:
        index = max((i for i, s in enumerate(starts) if s <= call.t), default=None)
        if index is None:
            unattributed += 1
            continue
        start, upstream, end = windows[index]
        if upstream is not None and call.t < upstream:
            phase = "before_upstream"
        elif call.t < end:
            phase = "before_response_end"
        else:
            phase = "after_response"
        phases[phase][call.signature()] += 1
    n = max(1, len(windows))
    return {
        "unattributed_calls": unattributed,
        **{p: {sig: c / n for sig, c in sorted(counter.items())} for p, counter in phases.items()},
    }
