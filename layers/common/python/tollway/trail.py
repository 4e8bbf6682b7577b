"""The audit trail of operator commands: when, what (arguments with secrets redacted), by whom, outcome.

Every mutating admin command leaves one entry (``tollway.admin.registry`` writes it after the command
ran, whatever the outcome). Entries live in the config table under one partition per UTC month
(``pk = trail#YYYY-MM``, ``sk = trl_<ULID>``: time-sortable), so a time range is a key range and
``trail.query`` never scans; the relay never reads them.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tollway.dynamo import S, retry_store
from tollway.usage.query import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from tollway.memory.backend import MemoryBackend

__all__ = [
    "DynamoTrail",
    "MemoryTrail",
    "TrailEntry",
    "TrailFilter",
    "TrailPage",
    "TrailStore",
    "new_entry_id",
    "redact",
]

# Argument names whose values never reach the trail (beside every pydantic SecretStr).
SECRET_NAMES = frozenset({"api_key", "secret", "password", "token", "key", "code", "admin_secret"})
_MAX_ARGS_CHARS = 8_000


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_sequence_lock = threading.Lock()
_last = [0, 0]  # the last millisecond an id was made in, and the sequence within it


def _base32(value: int, width: int) -> str:
    return "".join(_CROCKFORD[(value >> (5 * (width - 1 - i))) & 31] for i in range(width))


def _time_prefix(ms: int) -> str:
    """``trl_`` + the millisecond time, as the first 14 characters of every id made in that ms."""
    return "trl_" + _base32(ms, 10)


def new_entry_id(now_ms: int) -> str:
    """``trl_`` + time + a sequence (entries of one process sort in the order they were made, even
    within one millisecond) + randomness (entries of different processes never collide)."""
    with _sequence_lock:
        _last[1] = _last[1] + 1 if _last[0] == now_ms else 0
        _last[0] = now_ms
        sequence = _last[1]
    return _time_prefix(now_ms) + _base32(sequence, 4) + _base32(secrets.randbits(60), 12)


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def redact(args: Any) -> Any:
    """``args`` with every secret-named value replaced (recursively) and the whole kept small."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "[redacted]" if str(k).lower() in SECRET_NAMES else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    cleaned = walk(args)
    text = json.dumps(cleaned, default=str, separators=(",", ":"))
    if len(text) > _MAX_ARGS_CHARS:
        return {"truncated": True, "preview": text[:_MAX_ARGS_CHARS]}
    return cleaned


@dataclass(frozen=True, slots=True)
class TrailEntry:
    entry_id: str
    at: int  # ms
    command: str
    actor: str
    args: Any
    outcome: str  # "ok" or the error code
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "at": self.at,
            "time": datetime.fromtimestamp(self.at / 1000, tz=UTC).isoformat(timespec="milliseconds"),
            "command": self.command,
            "actor": self.actor,
            "args": self.args,
            "outcome": self.outcome,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrailEntry:
        return cls(
            entry_id=data["entry_id"],
            at=int(data["at"]),
            command=data["command"],
            actor=data["actor"],
            args=data.get("args"),
            outcome=data["outcome"],
            message=data.get("message"),
        )


@dataclass(frozen=True)
class TrailFilter:
    start_ms: int
    end_ms: int
    command: str | None = None  # exact name, or a group ("key" / "key.")
    actor: str | None = None  # substring
    outcome: str | None = None  # "ok" | "error"
    limit: int = 100
    cursor: str | None = None

    def matches(self, entry: TrailEntry) -> bool:
        if not self.start_ms <= entry.at < self.end_ms:
            return False
        if self.command is not None:
            group = self.command.rstrip(".")
            if entry.command != self.command and entry.command.split(".", 1)[0] != group:
                return False
        if self.actor is not None and self.actor not in entry.actor:
            return False
        if self.outcome == "ok" and entry.outcome != "ok":
            return False
        return not (self.outcome == "error" and entry.outcome == "ok")


@dataclass(frozen=True)
class TrailPage:
    entries: list[TrailEntry] = field(default_factory=list)
    next_cursor: str | None = None


class TrailStore(Protocol):
    def append(self, entry: TrailEntry) -> None: ...

    def query(self, flt: TrailFilter) -> TrailPage:
        """Newest first; raises ValueError for a bad cursor."""


def _months(start_ms: int, end_ms: int) -> list[str]:
    """The UTC months a range touches, newest first."""
    months: list[str] = []
    cursor = datetime.fromtimestamp(max(end_ms - 1, start_ms) / 1000, tz=UTC).replace(day=1)
    first = _month(start_ms)
    while True:
        text = cursor.strftime("%Y-%m")
        months.append(text)
        if text <= first:
            return months
        cursor = (cursor - timedelta(days=1)).replace(day=1)


class DynamoTrail:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._c = client
        self._table = table

    def append(self, entry: TrailEntry) -> None:
        item = {
            "pk": S(f"trail#{_month(entry.at)}"),
            "sk": S(entry.entry_id),
            "data": S(json.dumps(entry.to_json(), default=str, separators=(",", ":"))),
        }
        # entry ids are unique; a repeated write of the same entry is harmless
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=item))

    def query(self, flt: TrailFilter) -> TrailPage:
        position = decode_cursor(flt.cursor) if flt.cursor else {}
        high_id = _time_prefix(flt.end_ms)
        low_id = _time_prefix(flt.start_ms)
        entries: list[TrailEntry] = []
        months = _months(flt.start_ms, flt.end_ms)
        if "month" in position:
            months = [m for m in months if m <= str(position["month"])]
        after = str(position.get("after", "trl_~"))
        for month in months:
            start_key: Any = None
            while True:
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": {
                        ":pk": S(f"trail#{month}"),
                        ":lo": S(low_id),
                        ":hi": S(min(high_id + "~", after)),
                    },
                    "ScanIndexForward": False,
                    "ConsistentRead": True,
                }
                if start_key:
                    kwargs["ExclusiveStartKey"] = start_key
                response = retry_store(lambda kwargs=kwargs: self._c.query(**kwargs))  # type: ignore[misc]
                for item in response.get("Items", []):
                    entry = TrailEntry.from_json(json.loads(item["data"]["S"]))
                    if entry.entry_id >= after or not flt.matches(entry):
                        continue
                    entries.append(entry)
                    if len(entries) == flt.limit:
                        return TrailPage(entries, encode_cursor({"month": month, "after": entry.entry_id}))
                start_key = response.get("LastEvaluatedKey")
                if not start_key:
                    break
            after = "trl_~"
        return TrailPage(entries, None)


class MemoryTrail:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def append(self, entry: TrailEntry) -> None:
        with self._b.lock:
            self._b.config[(f"trail#{_month(entry.at)}", entry.entry_id)] = {"data": json.dumps(entry.to_json())}

    def query(self, flt: TrailFilter) -> TrailPage:
        with self._b.lock:
            items = [v for (k, _), v in self._b.config.items() if k.startswith("trail#")]
        entries = sorted(
            (e for e in (TrailEntry.from_json(json.loads(str(v["data"]))) for v in items) if flt.matches(e)),
            key=lambda e: e.entry_id,
            reverse=True,
        )
        if flt.cursor:
            after = str(decode_cursor(flt.cursor).get("after", "trl_~"))
            entries = [e for e in entries if e.entry_id < after]
        page = entries[: flt.limit]
        more = len(entries) > flt.limit and page
        return TrailPage(page, encode_cursor({"after": page[-1].entry_id}) if more else None)
