"""Snapshot moto's state to `<state-dir>/emulator/` (the format is in docs/local-emulator.md).

Two steps, so the request lock is held only for the cheap one:

1. `Snapshotter.capture()` runs *inside* the request lock. It reads moto's state that changed since
   the previous capture into plain Python values: DynamoDB items by key (`tracking.py` says which),
   and the whole of Secrets Manager / S3 metadata / SNS when a request touched that service.
2. `Snapshotter.write()` runs *outside* it: JSON-encodes the captured items into per-table caches
   (one encoded line per item), writes new S3 bodies as content-addressed blobs, and replaces
   `snapshot.jsonl` atomically (temp file, fsync, `os.replace`, fsync of the directory).

So a snapshot of 20,000 items where 50 changed costs the lock 50 item reads, not 20,000.
`capture(full=True)` ignores the change log and re-reads everything (used at start and at exit).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from moto.s3.models import FakeKey
from moto.secretsmanager.models import FakeSecret

from tollway_local.emulator.classify import Effect
from tollway_local.emulator.itemcodec import encode_attrs
from tollway_local.emulator.tracking import ChangeLog, Drained, ItemKey

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from tollway_local.emulator.backends import Backends

__all__ = [
    "FORMAT",
    "SNAPSHOT_FILE",
    "VERSION",
    "Capture",
    "SnapshotStats",
    "Snapshotter",
    "table_definition",
]

FORMAT = "tollway-emulator-snapshot"
VERSION = 1
SNAPSHOT_FILE = "snapshot.jsonl"
BLOB_DIR = "blobs"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@functools.cache
def _moto_version() -> str:
    return metadata.version("moto")


def _line(value: Any) -> bytes:
    """One JSON Lines record, UTF-8 encoded (the cache keeps bytes: writing is then a join, not an encode)."""
    return _dumps(value).encode()


@dataclass(slots=True)
class _TableCache:
    definition: dict[str, Any]
    items: dict[ItemKey, bytes]  # each item's line, ready to write


@dataclass(slots=True)
class _ObjectCapture:
    key: Any  # moto FakeKey, kept to recognise it (by identity) at the next capture
    bucket: str
    name: str
    digest: str | None  # known sha256 of the body, or None when `body` is set
    body: bytes | None
    record: dict[str, Any]


@dataclass(slots=True)
class Capture:
    """State read under the lock; everything in it is private to the snapshot writer."""

    full: bool
    table_names: list[str]
    # Whole tables are encoded to JSON text right away (no second copy of every item in memory).
    tables_full: dict[str, tuple[dict[str, Any], dict[ItemKey, bytes]]] = field(default_factory=dict)
    tables_changed: dict[str, list[tuple[ItemKey, dict[str, Any] | None]]] = field(default_factory=dict)
    secrets: list[dict[str, Any]] | None = None
    buckets: list[dict[str, Any]] | None = None
    objects: list[_ObjectCapture] | None = None
    topics: list[dict[str, Any]] | None = None
    capture_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SnapshotStats:
    path: Path
    bytes: int
    tables: int
    items: int
    objects: int
    capture_s: float  # inside the request lock
    write_s: float  # outside it


def table_definition(table: Any) -> dict[str, Any]:
    """`create_table` kwargs (+ TimeToLiveSpecification) that rebuild a moto table's shape."""
    definition: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": copy.deepcopy(table.schema),
        "AttributeDefinitions": copy.deepcopy(table.attr),
        "BillingMode": "PAY_PER_REQUEST",
    }
    for option, indexes in (("GlobalSecondaryIndexes", table.global_indexes), ("LocalSecondaryIndexes", table.indexes)):
        if indexes:
            definition[option] = [
                {
                    "IndexName": index.name,
                    "KeySchema": copy.deepcopy(index.schema),
                    "Projection": dict(index.projection),
                }
                for index in indexes
            ]
    ttl = table.ttl
    if ttl.get("AttributeName"):
        definition["TimeToLiveSpecification"] = {
            "AttributeName": ttl["AttributeName"],
            "Enabled": ttl.get("TimeToLiveStatus") == "ENABLED",
        }
    return definition


def _table_items(table: Any) -> Iterator[Any]:
    if table.range_key_attr is None:
        yield from table.items.values()
    else:
        for by_range in table.items.values():
            yield from by_range.values()


def _lookup(table: Any, key: ItemKey) -> Any:
    # `table.items` is a defaultdict: `.get` never creates an entry, indexing would.
    hash_key, range_key = key
    if table.range_key_attr is None:
        return table.items.get(hash_key)
    by_range = table.items.get(hash_key)
    return by_range.get(range_key) if by_range else None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Snapshotter:
    """Owns the snapshot directory and the caches that make incremental snapshots cheap.

    `note()` and `capture()` must be called with the request lock held; `write()` and `prime()`
    without it, from one thread at a time (the server serialises them with its own mutex).
    """

    def __init__(self, directory: Path, backends: Backends) -> None:
        self.directory = directory
        self.path = directory / SNAPSHOT_FILE
        self.blob_dir = directory / BLOB_DIR
        self.backends = backends
        self.changes = ChangeLog()
        self._effects: set[Effect] = {Effect.EVERYTHING}
        self._needs_full = False  # set when a write failed half-way
        self._tables: dict[str, _TableCache] = {}
        self._table_names: list[str] = []
        self._secrets: list[dict[str, Any]] = []
        self._buckets: list[dict[str, Any]] = []
        self._objects: list[dict[str, Any]] = []
        self._topics: list[dict[str, Any]] = []
        self._digests: dict[int, tuple[Any, str]] = {}  # id(FakeKey) -> (FakeKey, sha256 of its body)
        self._owned_blobs: set[str] = set()  # blobs this process may delete once unreferenced
        self.last: SnapshotStats | None = None
        self.snapshots_written = 0
        self._unwritten = 0  # captures taken but not yet on disk: the state is still dirty until then

    # ---- inside the request lock ----

    def note(self, effect: Effect) -> None:
        self._effects.add(effect)
        if effect in (Effect.DYNAMODB, Effect.EVERYTHING):
            self.changes.touch_everything()

    @property
    def dirty(self) -> bool:
        return bool(self._effects) or self._needs_full or self._unwritten > 0

    def capture(self, *, full: bool = False) -> Capture:
        started = time.perf_counter()
        effects, self._effects = self._effects, set()
        drained = self.changes.drain()
        full = full or self._needs_full or Effect.EVERYTHING in effects
        self._needs_full = False
        try:
            capture = self._capture(full, effects, drained)
        except BaseException:
            # What was drained is gone: make sure the next capture reads everything again.
            self._needs_full = True
            raise
        capture.capture_s = time.perf_counter() - started
        self._unwritten += 1
        return capture

    def _capture(self, full: bool, effects: set[Effect], drained: Drained) -> Capture:
        dynamodb = self.backends.dynamodb
        tables = dict(dynamodb.tables)
        capture = Capture(full=full, table_names=sorted(tables))
        for name, table in tables.items():
            if full or drained.everything or name in drained.tables or name not in self._tables:
                items = {
                    (item.hash_key, item.range_key): _line(encode_attrs(item.attrs)) for item in _table_items(table)
                }
                capture.tables_full[name] = (table_definition(table), items)
            elif name in drained.keys:
                changed: list[tuple[ItemKey, dict[str, Any] | None]] = []
                for key in drained.keys[name]:
                    item = _lookup(table, key)
                    changed.append((key, encode_attrs(item.attrs) if item is not None else None))
                capture.tables_changed[name] = changed
        if full or Effect.SECRETSMANAGER in effects:
            capture.secrets = self._capture_secrets()
        if full or Effect.S3 in effects:
            capture.buckets, capture.objects = self._capture_s3()
        if full or Effect.SNS in effects:
            capture.topics = self._capture_topics()
        return capture

    def _capture_secrets(self) -> list[dict[str, Any]]:
        secrets: list[dict[str, Any]] = []
        for secret in list(dict.values(self.backends.secretsmanager.secrets)):
            # Replicas belong to another region; secrets pending deletion are not kept (documented).
            if not isinstance(secret, FakeSecret) or secret.is_deleted():
                continue
            secrets.append(
                {
                    "name": secret.name,
                    "arn": secret.arn,
                    "description": secret.description,
                    "tags": copy.deepcopy(secret.tags),
                    "kms_key_id": secret.kms_key_id,
                    "created_date": secret.created_date,
                    "last_changed_date": secret.last_changed_date,
                    "default_version_id": secret.default_version_id,
                    "versions": copy.deepcopy(secret.versions),
                }
            )
        return sorted(secrets, key=lambda record: str(record["name"]))

    def _capture_s3(self) -> tuple[list[dict[str, Any]], list[_ObjectCapture]]:
        buckets: list[dict[str, Any]] = []
        objects: list[_ObjectCapture] = []
        for bucket in list(self.backends.s3.buckets.values()):
            buckets.append({"name": bucket.name, "region": bucket.region_name})
            for name, key in list(bucket.keys.items()):  # the latest version of each key
                if not isinstance(key, FakeKey):
                    continue  # a delete marker
                known = self._digests.get(id(key))
                digest = known[1] if known is not None and known[0] is key else None
                record = {
                    "key": name,
                    "metadata": dict(key.metadata),
                    "etag": key.etag.strip('"'),
                    "last_modified": key.last_modified.isoformat(),
                    "size": key.size,
                }
                body = None if digest is not None else key.value
                objects.append(_ObjectCapture(key, bucket.name, name, digest, body, record))
        return sorted(buckets, key=lambda record: str(record["name"])), objects

    def _capture_topics(self) -> list[dict[str, Any]]:
        topics: list[dict[str, Any]] = []
        for topic in list(self.backends.sns.topics.values()):
            attributes = {
                "DisplayName": topic.display_name,
                "KmsMasterKeyId": topic.kms_master_key_id,
                "DeliveryPolicy": topic.delivery_policy,
            }
            if str(topic.fifo_topic).lower() == "true":
                attributes["FifoTopic"] = "true"
                attributes["ContentBasedDeduplication"] = str(topic.content_based_deduplication).lower()
            topics.append(
                {
                    "name": topic.name,
                    "attributes": {name: value for name, value in attributes.items() if value},
                    "tags": dict(topic._tags),
                }
            )
        return sorted(topics, key=lambda record: str(record["name"]))

    # ---- outside the request lock ----

    def prime(self, capture: Capture, *, restored_blobs: Iterable[str] = ()) -> None:
        """Fill the caches from a capture without writing (the file already holds this state)."""
        self._owned_blobs.update(restored_blobs)
        try:
            self._apply(capture)
        finally:
            self._unwritten -= 1  # nothing to write: the file already holds what was captured

    def write(self, capture: Capture) -> SnapshotStats:
        """Apply `capture` to the caches and replace the snapshot file with the result.

        If anything fails, the next capture is a full one, so nothing captured here is lost.
        """
        started = time.perf_counter()
        try:
            self._apply(capture)
            size = self._write_document()
        except BaseException:
            self._needs_full = True
            raise
        finally:
            self._unwritten -= 1
        self._collect_blobs()
        self.snapshots_written += 1
        self.last = SnapshotStats(
            path=self.path,
            bytes=size,
            tables=len(self._table_names),
            items=sum(len(cache.items) for cache in self._tables.values()),
            objects=len(self._objects),
            capture_s=capture.capture_s,
            write_s=time.perf_counter() - started,
        )
        return self.last

    def _apply(self, capture: Capture) -> None:
        self._table_names = capture.table_names
        for name in list(self._tables):
            if name not in capture.table_names:
                del self._tables[name]
        for name, (definition, items) in capture.tables_full.items():
            self._tables[name] = _TableCache(definition, items)
        for name, changed in capture.tables_changed.items():
            cached = self._tables[name].items
            for key, attrs in changed:
                if attrs is None:
                    cached.pop(key, None)
                else:
                    cached[key] = _line(attrs)
        if capture.secrets is not None:
            self._secrets = capture.secrets
        if capture.topics is not None:
            self._topics = capture.topics
        if capture.buckets is not None and capture.objects is not None:
            self._store_objects(capture.buckets, capture.objects)

    def _store_objects(self, buckets: list[dict[str, Any]], objects: list[_ObjectCapture]) -> None:
        """Write new bodies as blobs, then remember their digests (only once they are on disk)."""
        digests: dict[int, tuple[Any, str]] = {}
        records: list[dict[str, Any]] = []
        for captured in objects:
            digest = captured.digest
            if digest is None:
                body = captured.body if captured.body is not None else b""
                digest = hashlib.sha256(body).hexdigest()
                path = self.blob_dir / digest
                if not path.exists():
                    self.blob_dir.mkdir(parents=True, exist_ok=True)
                    _atomic_write_bytes(path, body)
                self._owned_blobs.add(digest)
                captured.body = None
            digests[id(captured.key)] = (captured.key, digest)
            records.append({"bucket": captured.bucket, **captured.record, "blob": digest})
        # Only keys that still exist stay referenced, so replaced FakeKeys (and their buffers) can go.
        self._digests = digests
        self._buckets = buckets
        self._objects = sorted(records, key=lambda record: (record["bucket"], record["key"]))

    def _collect_blobs(self) -> None:
        referenced = {record["blob"] for record in self._objects}
        for digest in self._owned_blobs - referenced:
            with contextlib.suppress(FileNotFoundError):
                (self.blob_dir / digest).unlink()
        self._owned_blobs &= referenced

    def _write_document(self) -> int:
        """Write the JSON Lines file (format in docs/local-emulator.md) and swap it in atomically."""
        header = {
            "format": FORMAT,
            "version": VERSION,
            "written_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "moto": _moto_version(),
            "account_id": self.backends.account_id,
            "region": self.backends.region,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        total = 0
        with open(tmp, "wb") as handle:
            handle.write(_line(header) + b"\n")
            for name in self._table_names:
                cache = self._tables[name]
                handle.write(_line({"table": {"definition": cache.definition, "items": len(cache.items)}}) + b"\n")
                if cache.items:
                    handle.write(b"\n".join(cache.items.values()))
                    handle.write(b"\n")
                total += len(cache.items)
            handle.write(_line({"secretsmanager": {"secrets": self._secrets}}) + b"\n")
            handle.write(_line({"s3": {"buckets": self._buckets, "objects": self._objects}}) + b"\n")
            handle.write(_line({"sns": {"topics": self._topics}}) + b"\n")
            handle.write(_line({"end": {"tables": len(self._table_names), "items": total}}) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        os.replace(tmp, self.path)
        _fsync_directory(self.directory)
        return size
