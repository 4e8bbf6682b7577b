"""moto's server WSGI app, with every request serialised by one process-wide lock.

Why serialise: moto is not concurrency safe. `update_item` is read-check-mutate with no lock, and
`transact_write_items` rolls back by restoring what it saved before it started (whole-table copies
in moto, an undo log of the named items here: `transactions.py`), so a failing transaction can
erase a concurrent successful write (see docs/local-emulator.md). DynamoDB makes a
conditional write or a transaction atomic; one lock around the whole WSGI call does the same here,
and costs nothing measurable: moto is one core of Python per request either way (the GIL).

Per request, outside the lock: the request body is read from the socket before the lock is taken
and the response is sent after it is released, so a slow client cannot stall everyone else. Inside
the lock: moto runs, the response body is materialised, the request is classified for the snapshot
(`classify.py`), and moto's `instances_tracked` lists are emptied (moto appends every model object
it ever builds to them, including the table copies each transaction makes, so they grow without
bound; nothing but moto's reset and dashboard reads them).

Three paths never reach moto: `GET /_emulator/stats` (counters, RSS, CPU, tracked-instance counts),
`POST /_emulator/gc-freeze` (`gc.collect(); gc.freeze()`, for after seeding) and
`POST /_emulator/faults` (the fault mode's plan as JSON, `faults.py`; `{"rate": 0}` turns it off).

Fault mode (off by default): a drawn fault answers the call with DynamoDB's error instead of running
it; a lost response runs it and then answers `500 InternalServerError`, so the client sends it again.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.core.model_instances import model_data
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from tollway_local.emulator.classify import Effect, classify
from tollway_local.emulator.faults import Fault, Faults, error_body, plan_of_body
from tollway_local.emulator.httpserver import read_body

__all__ = ["RequestCounters", "SerialisedMotoApp", "clear_instances_tracked", "freeze_gc", "serialised_moto_app"]

StartResponse = Callable[..., Any]
STATS_PATH = "/_emulator/stats"
FREEZE_PATH = "/_emulator/gc-freeze"
FAULTS_PATH = "/_emulator/faults"
_TARGET_PREFIX = "DynamoDB_20120810."


_frozen = [0]  # objects in the permanent generation after the emulator's last gc.freeze()


def freeze_gc(*, collect: bool = True) -> int:
    """`gc.collect(); gc.freeze()` (`collect=False`: the freeze alone, just after a collection);
    returns what the collection freed.

    The frozen count is read here, once: `gc.get_freeze_count()` walks every frozen object (≈16–18 ms
    of CPU with moto and the template loaded), too dear for `/_emulator/stats`, whose own cost would
    otherwise be part of every CPU figure taken with it.
    """
    collected = gc.collect() if collect else 0
    gc.freeze()
    _frozen[0] = gc.get_freeze_count()
    return collected


def frozen_count() -> int:
    """The permanent generation's size as of the emulator's last `freeze_gc()`."""
    return _frozen[0]


def clear_instances_tracked() -> int:
    """Empty moto's `instances_tracked` list of every model class; returns how many entries it dropped."""
    dropped = 0
    for models in list(model_data.values()):
        for model in list(models.values()):
            tracked = getattr(model, "instances_tracked", None)
            if tracked:
                dropped += len(tracked)
                tracked.clear()
    return dropped


def tracked_instance_counts() -> dict[str, int]:
    """`instances_tracked` sizes by `service.Model` (non-empty ones only)."""
    counts: dict[str, int] = {}
    for service, models in list(model_data.items()):
        for name, model in list(models.items()):
            size = len(getattr(model, "instances_tracked", ()))
            if size:
                counts[f"{service}.{name}"] = size
    return counts


@dataclass(slots=True)
class RequestCounters:
    requests: int = 0
    mutating: int = 0
    untracked: int = 0


class SerialisedMotoApp:
    """A WSGI app running moto one request at a time.

    `on_effect` is called (inside the lock) with the snapshot effect of every request that is not a
    pure read. `untrack=False` keeps moto's leak, for measuring it.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        lock: threading.Lock | None = None,
        untrack: bool = True,
        on_effect: Callable[[Effect], None] | None = None,
        extra_stats: Callable[[], dict[str, Any]] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.app = app if app is not None else DomainDispatcherApplication(create_backend_app)
        self.lock = lock if lock is not None else threading.Lock()
        self.untrack = untrack
        self.on_effect = on_effect
        self.extra_stats = extra_stats
        self.counters = RequestCounters()
        self.faults = faults if faults is not None else Faults()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == STATS_PATH:
            return self._json(start_response, self.stats())
        if path == FREEZE_PATH and environ.get("REQUEST_METHOD") == "POST":
            with self.lock:
                collected = freeze_gc()
            return self._json(start_response, {"collected": collected, "frozen": frozen_count()})
        if path == FAULTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            self.faults.set_plan(plan_of_body(read_body(environ)))
            return self._json(start_response, self.faults.plan.to_json())
        body = read_body(environ)  # before the lock: a slow upload must not stall everyone
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target[len(_TARGET_PREFIX) :] if target.startswith(_TARGET_PREFIX) else ""
        fault = self.faults.draw(operation) if operation else None
        if fault is not None and fault is not Fault.LOST:
            return self._fault(start_response, fault, operation, body)
        with self.lock:
            try:
                answer = self._call_moto(environ, start_response if fault is None else _discard)
            finally:
                self._after_request(environ, body)
        if fault is Fault.LOST:
            return self._fault(start_response, fault, operation, body)
        return answer

    @staticmethod
    def _fault(start_response: StartResponse, fault: Fault, operation: str, body: bytes) -> list[bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        status, payload = error_body(fault, operation, request)
        data = json.dumps(payload).encode()
        reason = "Internal Server Error" if status == 500 else "Bad Request"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _call_moto(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        result = self.app(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _after_request(self, environ: dict[str, Any], body: bytes) -> None:
        counters = self.counters
        counters.requests += 1
        effect = classify(environ, body)
        if effect is not Effect.READ:
            counters.mutating += 1
            if self.on_effect is not None:
                self.on_effect(effect)
        if self.untrack:
            counters.untracked += clear_instances_tracked()

    def stats(self) -> dict[str, Any]:
        """Counters and process figures; taken under the lock so they are mutually consistent."""
        with self.lock:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            stats: dict[str, Any] = {
                "pid": os.getpid(),
                "requests": self.counters.requests,
                "mutating_requests": self.counters.mutating,
                "untracked_instances": self.counters.untracked,
                "untrack": self.untrack,
                "tracked_instances": tracked_instance_counts(),
                "rss_bytes": _rss_bytes(),
                "max_rss_bytes": usage.ru_maxrss * 1024,
                "cpu_user_s": usage.ru_utime,
                "cpu_system_s": usage.ru_stime,
                "gc_counts": list(gc.get_count()),
                "gc_frozen": frozen_count(),
                "monotonic_s": time.monotonic(),
                "faults": {"plan": self.faults.plan.to_json(), "counts": dict(self.faults.counts)},
            }
            if self.extra_stats is not None:
                stats.update(self.extra_stats())
        return stats

    @staticmethod
    def _json(start_response: StartResponse, payload: dict[str, Any]) -> list[bytes]:
        data = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def _discard(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    """A start_response for an answer that is thrown away (a lost response)."""
    return lambda data: None


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        return 0


def serialised_moto_app(*, untrack: bool = True) -> SerialisedMotoApp:
    """moto's server app behind one lock, ready to hand to any threaded WSGI server.

    moto's backends are process-global: run at most one of these per process, and not next to an
    active `moto.mock_aws` that expects its own state.
    """
    return SerialisedMotoApp(untrack=untrack)
