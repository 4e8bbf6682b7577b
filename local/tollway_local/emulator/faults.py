"""The store's fault mode: DynamoDB's unhappy path on demand (off unless asked for).

The emulator serialises requests, so the errors a real table gives under load never happen locally:
``TransactionConflict``, throttling (``ProvisionedThroughputExceededException``,
``ThrottlingException``), ``InternalServerError`` — and the worst one for money, a write that lands
whose response is lost (the caller, or botocore, then sends it again). A :class:`Faults` draws, per
call and from a seeded generator, whether a call is answered with one of those; the operations it may
touch are chosen by name (``TransactWriteItems``, ``UpdateItem``, ...).

Two ways in:

- over HTTP: the emulator's WSGI app asks :meth:`Faults.draw` before moto runs (``wsgi.py``;
  ``--faults`` on the command line, or ``POST /_emulator/faults`` at run time). A lost response runs
  the call in moto and answers ``500 InternalServerError``, which botocore retries;
- in process: :class:`FaultyClient` wraps a boto3 client (moto's ``mock_aws`` in unit tests); a lost
  response applies the call and raises ``ReadTimeoutError``, as a timed-out connection does.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

__all__ = ["Fault", "FaultPlan", "Faults", "FaultyClient", "error_body", "operation_of_method"]

# Every write tollway makes, by API name; reads are left alone unless named.
WRITES = frozenset({"TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem"})


class Fault(Enum):
    CONFLICT = "conflict"  # TransactionConflict (inside TransactionCanceledException for a transaction)
    THROUGHPUT = "throughput"  # ProvisionedThroughputExceededException
    THROTTLING = "throttling"  # ThrottlingException
    INTERNAL = "internal"  # InternalServerError: nothing applied
    LOST = "lost"  # applied, the response lost


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What fraction of calls to which operations fail, and how.

    ``rate`` is the fraction of eligible calls faulted; each faulted call gets one of ``kinds`` with
    equal odds. ``operations`` names the API operations that may be faulted (default: every write).
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[Fault, ...] = tuple(Fault)
    operations: frozenset[str] = WRITES
    limit: int | None = None  # at most this many faults in all (None: no limit)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("the fault rate is a fraction between 0 and 1")
        if not self.kinds:
            raise ValueError("name at least one fault kind")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        kinds = tuple(Fault(k) for k in data.get("kinds", [k.value for k in Fault]))
        operations = frozenset(data.get("operations", WRITES))
        limit = data.get("limit")
        return cls(
            rate=float(data.get("rate", 0.0)),
            seed=int(data.get("seed", 0)),
            kinds=kinds,
            operations=operations,
            limit=None if limit is None else int(limit),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seed": self.seed,
            "kinds": [k.value for k in self.kinds],
            "operations": sorted(self.operations),
            "limit": self.limit,
        }


@dataclass
class Faults:
    """A plan and its seeded draws (thread-safe); counts what it did, by operation and kind."""

    plan: FaultPlan = field(default_factory=FaultPlan)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.plan.seed)

    def set_plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self.counts = {}
            self._random = random.Random(plan.seed)

    def draw(self, operation: str) -> Fault | None:
        with self._lock:
            plan = self.plan
            if plan.rate <= 0.0 or operation not in plan.operations:
                return None
            if plan.limit is not None and sum(self.counts.values()) >= plan.limit:
                return None
            if self._random.random() >= plan.rate:
                return None
            fault = self._random.choice(plan.kinds)
            name = f"{operation}.{fault.value}"
            self.counts[name] = self.counts.get(name, 0) + 1
            return fault

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())


_ERRORS: dict[Fault, tuple[int, str, str]] = {
    Fault.THROUGHPUT: (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    Fault.THROTTLING: (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    Fault.INTERNAL: (500, "InternalServerError", "Internal server error"),
    Fault.LOST: (500, "InternalServerError", "Internal server error"),
}


def error_body(fault: Fault, operation: str, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body DynamoDB answers with for ``fault`` (JSON 1.0 protocol)."""
    prefix = "com.amazonaws.dynamodb.v20120810#"
    if fault is Fault.CONFLICT:
        if operation == "TransactWriteItems":
            count = len(request.get("TransactItems", [])) or 1
            reasons = [{"Code": "None"} for _ in range(count)]
            reasons[0] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            return 400, {
                "__type": prefix + "TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[TransactionConflict]",
                "CancellationReasons": reasons,
            }
        return 400, {
            "__type": prefix + "TransactionConflictException",
            "message": "Transaction is ongoing for the item",
        }
    status, code, message = _ERRORS[fault]
    return status, {"__type": prefix + code, "message": message}


def _client_error(fault: Fault, operation: str, request: Mapping[str, Any]) -> ClientError:
    status, body = error_body(fault, operation, request)
    error: dict[str, Any] = {
        "Error": {"Code": body["__type"].split("#", 1)[1], "Message": body.get("message", body.get("Message", ""))},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    if "CancellationReasons" in body:
        error["CancellationReasons"] = body["CancellationReasons"]
    return ClientError(error, operation)  # type: ignore[arg-type]


def operation_of_method(name: str) -> str:
    """``transact_write_items`` → ``TransactWriteItems``."""
    return "".join(part.capitalize() for part in name.split("_"))


class FaultyClient:
    """A boto3 DynamoDB client that fails as :class:`Faults` draws (in-process, for unit tests).

    Only method calls are faulted (paginators pass through). ``LOST`` applies the call, then raises
    ``ReadTimeoutError`` — the response never arrived.
    """

    def __init__(self, client: Any, faults: Faults) -> None:
        self._client = client
        self.faults = faults
        self.lost: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr) or name in ("get_paginator", "get_waiter", "can_paginate"):
            return attr
        operation = operation_of_method(name)

        def call(**kwargs: Any) -> Any:
            fault = self.faults.draw(operation)
            if fault is None:
                return attr(**kwargs)
            if fault is Fault.LOST:
                try:
                    attr(**kwargs)  # lands (or fails its condition: either way the answer is lost)
                except ClientError:
                    pass
                self.lost.append(operation)
                raise ReadTimeoutError(endpoint_url="http://dynamodb.local")
            raise _client_error(fault, operation, kwargs)

        return call


def parse_plan_args(rate: float, seed: int, kinds: Iterable[str] | None, operations: Iterable[str] | None) -> FaultPlan:
    """The command line's ``--faults RATE --fault-seed N --fault-kinds a,b --fault-ops X,Y`` as a plan."""
    return FaultPlan(
        rate=rate,
        seed=seed,
        kinds=tuple(Fault(k) for k in kinds) if kinds else tuple(Fault),
        operations=frozenset(operations) if operations else WRITES,
    )


def plan_of_body(body: bytes) -> FaultPlan:
    return FaultPlan.from_json(json.loads(body or b"{}"))
