"""After the settle: the request's history, then closing its marker (see ``dynamodb.py``).

    history ─ BatchWriteItem: ledger entries + usage record (content fully determined by the settled
              marker, keyed by request id: a repeat rewrites identical items)
    close   ─ DeleteItem holds[r]  IF state = settled

Both are repeat-safe without conditions on their content, so neither needs to recognise its own
write: a lost response is simply sent again. A refusal (one usage record) is a single conditional put.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.bridge import pause
from tollway.dynamo import S, error_code, retry_store
from tollway.errors import StoreUnavailable
from tollway.ledger.codecs import SETTLED
from tollway.ledger.model import Movement
from tollway.records import UsageRecord
from tollway.records_dynamo import entry_to_item, record_to_item
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["close", "put_record", "write_history"]


def write_history(client: DynamoDBClient, tables: Tables, movement: Movement, *, shards: int, ttl_days: int) -> None:
    requests: dict[str, list[dict[str, Any]]] = {}
    if movement.entries:
        requests[tables.ledger] = [{"PutRequest": {"Item": entry_to_item(e)}} for e in movement.entries]
    if movement.record is not None:
        item = record_to_item(movement.record, shards=shards, ttl_days=ttl_days)
        requests.setdefault(tables.usage, []).append({"PutRequest": {"Item": item}})
    # Unconditional puts are repeat-safe here: every item is a pure function of the settled marker,
    # which never changes once settled, and is keyed by the movement's id.
    for attempt in range(8):
        if not requests:
            return
        response = retry_store(functools.partial(client.batch_write_item, RequestItems=requests))  # type: ignore[arg-type]
        requests = response.get("UnprocessedItems", {})  # type: ignore[assignment]
        if requests:
            pause(min(0.5, 0.02 * 2**attempt))  # on the loop when bridged (tollway.bridge)
    raise StoreUnavailable("Could not write the request's history; maintenance will finish it.")


def close(client: DynamoDBClient, tables: Tables, movement_id: str) -> None:
    try:
        retry_store(
            lambda: client.delete_item(
                TableName=tables.holds,
                Key={"hold_id": S(movement_id)},
                # only a settled marker is closed; an open hold is never dropped unpaid
                ConditionExpression="#st = :settled",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={":settled": SETTLED},
            )
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise StoreUnavailable("Could not close the hold.") from exc


def put_record(client: DynamoDBClient, tables: Tables, record: UsageRecord, *, shards: int, ttl_days: int) -> None:
    item = record_to_item(record, shards=shards, ttl_days=ttl_days)
    try:
        retry_store(
            lambda: client.put_item(
                TableName=tables.usage,
                Item=item,
                # one record per request id
                ConditionExpression="attribute_not_exists(request_id)",
            )
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise StoreUnavailable("Could not write the usage record.") from exc
