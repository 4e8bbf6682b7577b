"""Load a snapshot back into moto (at start, before the emulator reports ready).

Two passes over the JSON Lines file. `read_snapshot` checks its structure (header, format version,
section lines, item counts, the closing `end` line) without parsing the items; `restore_snapshot`
then checks it against this emulator (region, account, key schemas of the template's tables, S3
blobs) and only then loads it, parsing one item line at a time so the parsed file never sits in
memory next to moto's copy. Anything wrong raises `SnapshotError`; the emulator then refuses to
start (or, if asked, moves the file aside), never silently starting empty over a ledger.

Items go straight into moto's tables (`itemcodec.decode_item`), with the cyclic GC paused: for
20,000 items that is ~0.4 s; building moto `Item`s the normal way takes ~1.8 s.
"""

from __future__ import annotations

import datetime
import gc
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from moto.core.utils import camelcase_to_underscores

from tollway_local.emulator.itemcodec import decode_item
from tollway_local.emulator.snapshot import BLOB_DIR, FORMAT, VERSION

if TYPE_CHECKING:
    from pathlib import Path

    from tollway_local.emulator.backends import Backends

__all__ = ["RestoreStats", "Snapshot", "SnapshotError", "read_snapshot", "restore_snapshot"]


class SnapshotError(RuntimeError):
    """The snapshot cannot be read, or does not fit this emulator (region, template)."""


@dataclass(slots=True)
class Snapshot:
    """A snapshot file whose structure has been checked; items stay on disk until restored."""

    path: Path
    header: dict[str, Any]
    tables: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (definition, item count)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    buckets: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    topics: list[dict[str, Any]] = field(default_factory=list)

    def iter_items(self) -> Iterator[tuple[dict[str, Any], Iterator[dict[str, Any]]]]:
        """(table definition, its items) per table, parsed one item at a time from the file."""
        with open(self.path, encoding="utf-8", newline="\n") as handle:
            handle.readline()  # header
            for definition, count in self.tables:
                handle.readline()  # the table line, checked by read_snapshot
                yield definition, (_parse(handle.readline(), self.path) for _ in range(count))

    def items(self, table: str) -> list[dict[str, Any]]:
        """All items of one table (for tests and debugging)."""
        for definition, items in self.iter_items():
            if definition["TableName"] == table:
                return list(items)
            for _ in items:
                pass
        raise KeyError(table)


@dataclass(frozen=True, slots=True)
class RestoreStats:
    tables: int
    items: int
    secrets: int
    objects: int
    topics: int
    read_s: float
    apply_s: float
    blobs: frozenset[str]


def _parse(line: str, path: Path) -> Any:
    if not line.endswith("\n"):
        raise SnapshotError(f"{path} is truncated (a line or the closing 'end' line is missing)")
    try:
        return json.loads(line)
    except ValueError as exc:
        raise SnapshotError(f"{path} is not valid JSON Lines (corrupt?): {exc}") from exc


def _section(record: Any, path: Path) -> tuple[str, Any]:
    if not isinstance(record, dict) or len(record) != 1:
        raise SnapshotError(f"{path}: unexpected line {str(record)[:200]}")
    ((name, value),) = record.items()
    return str(name), value


def read_snapshot(path: Path) -> Snapshot | None:
    """Check a snapshot's structure (not its items' contents); None when there is no snapshot.

    Raises:
        SnapshotError: the file exists but is not a complete snapshot this version can read.
    """
    try:
        handle = open(path, encoding="utf-8", newline="\n")  # closed by the `with` below
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    try:
        with handle:
            return _read_structure(handle, path)
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{path} is not UTF-8 text (corrupt?): {exc}") from exc


def _read_structure(handle: IO[str], path: Path) -> Snapshot:
    header = _parse(handle.readline(), path)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise SnapshotError(f"{path} has format version {header.get('version')!r}; this emulator reads {VERSION}")
    snapshot = Snapshot(path=path, header=header)
    while True:
        name, value = _section(_parse(handle.readline(), path), path)
        if name == "end":
            break
        if name == "table":
            _skip_table(snapshot, value, handle, path)
        else:
            _store_section(snapshot, name, value, path)
    _check_end(snapshot, value, handle, path)
    return snapshot


def _skip_table(snapshot: Snapshot, value: Any, handle: IO[str], path: Path) -> None:
    try:
        definition, count = value["definition"], value["items"]
        name = definition["TableName"]
        missing = {"KeySchema", "AttributeDefinitions"} - set(definition)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: a table line is malformed ({exc!r})") from exc
    if not isinstance(count, int) or count < 0:
        raise SnapshotError(f"{path}: table {name} has an invalid item count {count!r}")
    for _ in range(count):
        if not handle.readline().endswith("\n"):
            raise SnapshotError(f"{path} is truncated (table {name} should have {count} items)")
    snapshot.tables.append((definition, count))


def _store_section(snapshot: Snapshot, name: str, value: Any, path: Path) -> None:
    try:
        if name == "secretsmanager":
            snapshot.secrets = list(value["secrets"])
        elif name == "s3":
            snapshot.buckets, snapshot.objects = list(value["buckets"]), list(value["objects"])
        elif name == "sns":
            snapshot.topics = list(value["topics"])
        else:
            raise SnapshotError(f"{path}: unknown section {name!r}")
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: section {name!r} is malformed ({exc!r})") from exc


def _check_end(snapshot: Snapshot, end: Any, handle: IO[str], path: Path) -> None:
    items = sum(count for _, count in snapshot.tables)
    if not isinstance(end, dict) or end.get("tables") != len(snapshot.tables) or end.get("items") != items:
        raise SnapshotError(f"{path}: the closing line does not match the file ({end!r}; {items} items read)")
    if handle.readline():
        raise SnapshotError(f"{path}: data after the closing line")


def _key_signature(schema: list[dict[str, Any]], attributes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    types = {attribute["AttributeName"]: attribute["AttributeType"] for attribute in attributes}
    return sorted((key["KeyType"], key["AttributeName"], types.get(key["AttributeName"], "?")) for key in schema)


def _check(snapshot: Snapshot, backends: Backends) -> None:
    """Everything that can be wrong between a snapshot and this emulator, found before anything is applied."""
    for field_name, expected in (("region", backends.region), ("account_id", backends.account_id)):
        if snapshot.header.get(field_name) != expected:
            raise SnapshotError(
                f"the snapshot was taken with {field_name} {snapshot.header.get(field_name)!r}; "
                f"this emulator runs {expected!r}"
            )
    existing = backends.dynamodb.tables
    for definition, _ in snapshot.tables:
        name = definition["TableName"]
        if name in existing:
            wanted = _key_signature(definition["KeySchema"], definition["AttributeDefinitions"])
            current = _key_signature(existing[name].schema, existing[name].attr)
            if current != wanted:
                raise SnapshotError(
                    f"table {name}: the snapshot's key schema {wanted} differs from the template's {current}; "
                    "migrate or remove the snapshot"
                )
    blob_dir = snapshot.path.parent / BLOB_DIR
    for record in snapshot.objects:
        blob = blob_dir / str(record.get("blob"))
        try:
            size = blob.stat().st_size
        except OSError as exc:
            raise SnapshotError(f"S3 object {record.get('bucket')}/{record.get('key')}: blob {blob} missing") from exc
        if size != record.get("size"):
            raise SnapshotError(f"S3 object {record.get('bucket')}/{record.get('key')}: blob {blob} has the wrong size")


def restore_snapshot(snapshot: Snapshot, backends: Backends) -> RestoreStats:
    """Check `snapshot` against this emulator, then load it into moto.

    Call with the request lock held, before serving.

    Raises:
        SnapshotError: the snapshot does not fit (nothing has been applied then), or an item in it is
            malformed (the emulator must not start with the half-loaded state).
    """
    started = time.perf_counter()
    _check(snapshot, backends)
    checked = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ~3x faster for large tables; the caller collects and freezes afterwards
    try:
        items = _restore_tables(snapshot, backends)
        _restore_secrets(snapshot, backends)
        blobs = _restore_objects(snapshot, backends)
        _restore_topics(snapshot, backends)
    finally:
        if gc_was_enabled:
            gc.enable()
    return RestoreStats(
        tables=len(snapshot.tables),
        items=items,
        secrets=len(snapshot.secrets),
        objects=len(snapshot.objects),
        topics=len(snapshot.topics),
        read_s=checked - started,
        apply_s=time.perf_counter() - checked,
        blobs=frozenset(blobs),
    )


def _table_for(backends: Backends, definition: dict[str, Any]) -> Any:
    dynamodb = backends.dynamodb
    name = definition["TableName"]
    table = dynamodb.tables.get(name)
    if table is None:  # created at run time, not from the template
        table = dynamodb.create_table(
            name,
            schema=definition["KeySchema"],
            throughput=None,
            attr=definition["AttributeDefinitions"],
            global_indexes=definition.get("GlobalSecondaryIndexes"),
            indexes=definition.get("LocalSecondaryIndexes"),
            streams=None,
            billing_mode="PAY_PER_REQUEST",
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        ttl = definition.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(name, ttl)
    return table


def _restore_tables(snapshot: Snapshot, backends: Backends) -> int:
    count = 0
    for definition, items in snapshot.iter_items():
        name = definition["TableName"]
        table = _table_for(backends, definition)
        hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
        stored = table.items
        for attrs in items:
            try:
                item = decode_item(attrs, hash_attr, range_attr)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise SnapshotError(f"table {name}: malformed item {str(attrs)[:200]}: {exc!r}") from exc
            if item.hash_key.type != table.hash_key_type or (
                range_attr is not None and item.range_key.type != table.range_key_type
            ):
                raise SnapshotError(f"table {name}: item key types do not match the table: {str(attrs)[:200]}")
            if range_attr is None:
                stored[item.hash_key] = item
            else:
                stored[item.hash_key][item.range_key] = item
            count += 1
    return count


def _restore_secrets(snapshot: Snapshot, backends: Backends) -> None:
    secretsmanager = backends.secretsmanager
    for record in snapshot.secrets:
        name = record["name"]
        secretsmanager.create_secret(
            name=name,
            secret_string=None,
            secret_binary=None,
            description=record.get("description"),
            tags=record.get("tags"),
            kms_key_id=record.get("kms_key_id"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        secret = secretsmanager.secrets[name]
        # Same ARN (random suffix included) and versions as before, so stored references keep working.
        secret.arn = record["arn"]
        secret.versions = record.get("versions") or {}
        secret.default_version_id = record.get("default_version_id")
        current = secret.versions.get(secret.default_version_id) or {}
        secret.secret_string = current.get("secret_string")
        secret.secret_binary = current.get("secret_binary")
        secret.created_date = record.get("created_date")
        secret.last_changed_date = record.get("last_changed_date")


def _restore_objects(snapshot: Snapshot, backends: Backends) -> set[str]:
    s3 = backends.s3
    for bucket in snapshot.buckets:
        if bucket["name"] not in s3.buckets:
            s3.create_bucket(bucket["name"], bucket.get("region") or backends.region)
    blob_dir = snapshot.path.parent / BLOB_DIR
    blobs: set[str] = set()
    for record in snapshot.objects:
        body = (blob_dir / record["blob"]).read_bytes()
        key = s3.put_object(record["bucket"], record["key"], body, disable_notification=True)
        key.set_metadata(dict(record.get("metadata") or {}))
        key.last_modified = datetime.datetime.fromisoformat(record["last_modified"])
        key._etag = record.get("etag") or None  # multipart ETags are not the body's MD5
        blobs.add(record["blob"])
    return blobs


def _restore_topics(snapshot: Snapshot, backends: Backends) -> None:
    sns = backends.sns
    for record in snapshot.topics:
        attributes = dict(record.get("attributes") or {})
        tags = dict(record.get("tags") or {})
        topic = sns.create_topic(record["name"], attributes=attributes, tags=tags)
        # create_topic returns an existing (template) topic unchanged: apply attributes and tags anyway.
        for attribute, value in attributes.items():
            setattr(topic, camelcase_to_underscores(attribute), value)
        topic._tags = tags
