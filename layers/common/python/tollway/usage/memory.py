"""Usage queries over the in-memory store."""

from __future__ import annotations

from tollway.memory.backend import MemoryBackend
from tollway.records import UsageRecord
from tollway.usage.query import Page, UsageFilter, decode_cursor, encode_cursor

__all__ = ["MemoryUsage"]


class MemoryUsage:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def query(self, flt: UsageFilter) -> Page:
        with self._b.lock:
            records = sorted(
                (r for r in self._b.usage.values() if flt.matches(r)), key=lambda r: r.request_id, reverse=True
            )
        if flt.cursor:
            after = str(decode_cursor(flt.cursor).get("after", ""))
            records = [r for r in records if r.request_id < after]
        page = records[: flt.limit]
        more = len(records) > flt.limit
        return Page(records=page, next_cursor=encode_cursor({"after": page[-1].request_id}) if more and page else None)

    def get(self, account_id: str, request_id: str) -> UsageRecord | None:
        with self._b.lock:
            record = self._b.usage.get(request_id)
        return record if record is not None and record.account_id == account_id else None
