"""What the mock saw and did, for `/_mock/stats`: request counts, a bounded request log, stream counters.

Everything here runs on the server's event loop, so no locking is needed.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["pending", "completed", "client_disconnected", "cut"]


@dataclass(slots=True)
class RequestRecord:
    """One request as the mock saw it; updated in place while its response is sent."""

    mock_request_id: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    generation: int
    endpoint: str | None = None
    body: Any = None
    faults: tuple[str, ...] = ()
    status: int | None = None
    error_code: str | None = None
    stream: bool = False
    #: Visible tokens the full answer would carry (all choices).
    tokens_planned: int = 0
    #: Visible tokens actually sent (for a stream: content chunks written before the end or the disconnect).
    tokens_sent: int = 0
    #: The usage object sent to the client, or None if none was sent.
    usage: dict[str, Any] | None = None
    outcome: Outcome = "pending"
    #: The wire format the answer (errors included) is written in: "openai" or "anthropic".
    dialect: str = "openai"

    def to_json(self) -> dict[str, Any]:
        return {
            "mock_request_id": self.mock_request_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "endpoint": self.endpoint,
            "headers": self.headers,
            "body": self.body,
            "faults": list(self.faults),
            "status": self.status,
            "error_code": self.error_code,
            "stream": self.stream,
            "tokens_planned": self.tokens_planned,
            "tokens_sent": self.tokens_sent,
            "usage": self.usage,
            "outcome": self.outcome,
            "completed": self.outcome == "completed",
            "client_disconnected": self.outcome == "client_disconnected",
        }


@dataclass(slots=True)
class MockStats:
    """Counters and the last `log_size` requests. `reset()` starts a new generation: streams still open
    across a reset do not count in the new generation's counters when they end."""

    log_size: int = 200
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    generation: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    log: deque[RequestRecord] = field(init=False)
    streams_started: int = 0
    streams_completed: int = 0
    streams_aborted: int = 0
    streams_cut: int = 0
    open_streams: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.log_size)

    def next_id(self) -> str:
        return f"mock-{self.instance}-{next(self._ids):06d}"

    def new_record(self, method: str, path: str, query: str, headers: dict[str, str]) -> RequestRecord:
        record = RequestRecord(
            mock_request_id=self.next_id(),
            method=method,
            path=path,
            query=query,
            headers=headers,
            generation=self.generation,
        )
        self.requests[path] += 1
        self.log.append(record)
        return record

    def stream_started(self, record: RequestRecord) -> None:
        record.stream = True
        self.open_streams += 1
        if record.generation == self.generation:
            self.streams_started += 1

    def stream_finished(self, record: RequestRecord, outcome: Outcome) -> None:
        record.outcome = outcome
        self.open_streams -= 1
        if record.generation != self.generation:
            return
        if outcome == "completed":
            self.streams_completed += 1
        elif outcome == "client_disconnected":
            self.streams_aborted += 1
        elif outcome == "cut":
            self.streams_cut += 1

    def reset(self) -> None:
        self.generation += 1
        self.requests.clear()
        self.log.clear()
        self.streams_started = self.streams_completed = self.streams_aborted = self.streams_cut = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "streams_started": self.streams_started,
            "streams_completed": self.streams_completed,
            "streams_aborted": self.streams_aborted,
            "streams_cut": self.streams_cut,
            "open_streams": self.open_streams,
            "requests_log": [record.to_json() for record in self.log],
        }
