"""Tell reads from writes, per request, so the snapshot knows what may have changed.

A request is a *read* only when it is known to be one (GetItem, Query, S3 GET/HEAD, ...); anything
unrecognised counts as a write to everything, so a gap here costs a full snapshot, never lost data.
DynamoDB item writes are narrowed further by `tracking.py`, which records the keys moto touched.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Effect", "classify", "operation_name"]


class Effect(enum.Enum):
    """Which snapshotted state a request may change."""

    READ = "read"  # nothing the snapshot keeps
    DYNAMODB_ITEMS = "dynamodb-items"  # item writes: the changed keys are recorded by tracking.py
    DYNAMODB = "dynamodb"  # tables themselves (create/delete/TTL/...): rescan every table
    SECRETSMANAGER = "secretsmanager"
    S3 = "s3"
    SNS = "sns"
    EVERYTHING = "everything"  # unknown service or operation, or moto's own reset API


# Operations that change nothing the snapshot keeps. SNS Publish belongs here: messages are not kept.
_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "Check", "Validate")
_READ_OPERATIONS = frozenset({"Publish", "PublishBatch"})
# Every DynamoDB path that writes items ends in Table.put_item / Table.delete_item / update_item,
# which tracking.py records; PartiQL included (moto applies its writes through Table.put_item too).
_DYNAMODB_ITEM_WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    }
)


def _is_read(operation: str) -> bool:
    return operation in _READ_OPERATIONS or operation.startswith(_READ_PREFIXES)


def _signing_service(environ: Mapping[str, Any]) -> str | None:
    """The service from a SigV4 `Authorization` header (`Credential=AK/date/region/service/aws4_request`)."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    marker = "Credential="
    start = auth.find(marker)
    if start < 0:
        return None
    scope = auth[start + len(marker) :].split(",", 1)[0].strip().split("/")
    return scope[3].lower() if len(scope) == 5 else None


def operation_name(environ: Mapping[str, Any], body: bytes) -> tuple[str | None, str | None]:
    """(service, operation) of a request, as far as the headers and a form body tell."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        prefix, _, operation = str(target).partition(".")
        if prefix.startswith("DynamoDBStreams"):
            return "dynamodbstreams", operation
        if prefix.startswith("DynamoDB"):
            return "dynamodb", operation
        return prefix.lower(), operation
    service = _signing_service(environ)
    content_type = str(environ.get("CONTENT_TYPE") or "")
    if content_type.startswith("application/x-www-form-urlencoded") and body:
        actions = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if actions:
            return service, actions[0]
    return service, None


def classify(environ: Mapping[str, Any], body: bytes) -> Effect:
    """The snapshot effect of one request. Unknown means EVERYTHING."""
    method = str(environ.get("REQUEST_METHOD") or "GET").upper()
    path = str(environ.get("PATH_INFO") or "")
    if path.startswith("/moto-api"):
        # The dashboard and data views are reads; reset and friends replace whole backends.
        return Effect.READ if method in ("GET", "HEAD") else Effect.EVERYTHING
    service, operation = operation_name(environ, body)
    if service == "dynamodbstreams":
        return Effect.READ
    if service == "s3":
        return Effect.READ if method in ("GET", "HEAD", "OPTIONS") else Effect.S3
    if operation is None:
        return Effect.EVERYTHING
    if _is_read(operation):
        return Effect.READ
    if service == "dynamodb":
        return Effect.DYNAMODB_ITEMS if operation in _DYNAMODB_ITEM_WRITES else Effect.DYNAMODB
    if service == "secretsmanager":
        return Effect.SECRETSMANAGER
    if service == "sns":
        return Effect.SNS
    return Effect.EVERYTHING
