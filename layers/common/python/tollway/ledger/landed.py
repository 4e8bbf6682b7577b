"""What a settle left, read back: when a settle's own answer is missing (a repeat, a lost response,
maintenance first, or a settle that could not land) this is how the request learns what it was charged.

- hold gone → the settle happened in one transaction: its usage record is the proof, and its ``debit``
  (or, when records expire, its ledger charge entry) what was taken;
- hold still there and settled → a marker an older version left (finished by maintenance);
- hold open with ``due_charge`` → a settle that could not land stored its charge for maintenance.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.dynamo import N, S, error_code, retry_store
from tollway.errors import StoreUnavailable
from tollway.ledger.codecs import OPEN, movement_of
from tollway.ledger.model import HoldRequest, Movement
from tollway.records import UsageRecord
from tollway.records_dynamo import item_to_record
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["charged", "from_record", "remember_due", "settled_before"]

log = logging.getLogger(__name__)


def charged(client: DynamoDBClient, tables: Tables, hold: HoldRequest) -> int:
    """What a request was charged when its own settle did not return the movement: the due charge a
    deferred settle left on the open hold (or an older version's settled marker), else — the hold
    closed — the debit its record carries, or its ledger charge entry (records that expire); 0 if
    there is none."""
    item = _hold_item(client, tables, hold.hold_id)
    if item is not None:
        movement = movement_of(item)
        if movement is not None:
            return movement.charge
        return int(item["due_charge"]["N"]) if "due_charge" in item else 0
    record = _record_item(client, tables, hold)
    if record is not None and "debit" in record:
        return int(record["debit"]["N"])
    return _charge_entry(client, tables, hold)


def remember_due(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, cost: int, record: UsageRecord
) -> bool | None:
    """Store the charge and record a failed settle computed, on the open hold. True: stored; False: the
    hold is not open any more; None: the store refused this too."""
    try:
        retry_store(
            lambda: client.update_item(
                TableName=tables.holds,
                Key={"hold_id": S(hold.hold_id)},
                UpdateExpression="SET due_charge = :c, due_record = :r",
                # only an open hold: a settled marker already says what was charged
                ConditionExpression="#st = :open",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={
                    ":c": N(cost),
                    ":r": S(json.dumps(record.to_json(), separators=(",", ":"))),
                    ":open": OPEN,
                },
            )
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        log.warning("could not store the due charge of %s", hold.hold_id)
        return None
    except StoreUnavailable:
        log.warning("could not store the due charge of %s", hold.hold_id)
        return None
    return True


def _hold_item(client: DynamoDBClient, tables: Tables, hold_id: str) -> dict[str, Any] | None:
    try:
        item: dict[str, Any] | None = retry_store(
            lambda: client.get_item(TableName=tables.holds, Key={"hold_id": S(hold_id)}, ConsistentRead=True)
        ).get("Item")
    except ClientError as exc:
        raise StoreUnavailable("Could not settle the request.") from exc
    return item


def _record_item(client: DynamoDBClient, tables: Tables, hold: HoldRequest) -> dict[str, Any] | None:
    try:
        item: dict[str, Any] | None = retry_store(
            lambda: client.get_item(
                TableName=tables.usage,
                Key={"account_id": S(hold.account_id), "request_id": S(hold.hold_id)},
                ConsistentRead=True,
            )
        ).get("Item")
    except ClientError as exc:
        raise StoreUnavailable("Could not settle the request.") from exc
    return item


def settled_before(client: DynamoDBClient, tables: Tables, hold: HoldRequest) -> Movement | None:
    """The movement a settle that already happened left: an older version's settled marker, or the
    closed hold's record."""
    marker = _hold_item(client, tables, hold.hold_id)
    if marker is not None:
        return movement_of(marker)
    return from_record(client, tables, hold, None)


def from_record(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, record_item: dict[str, Any] | None
) -> Movement | None:
    """A closed hold's movement, from the record its settle wrote (read here unless a refused put
    returned it); ``None`` if it left none. Its charge is what was taken: the record's ``debit``, or —
    records that expire — the ledger's charge entry (a task refund may have lowered the record's
    ``charge`` since)."""
    found = record_item or _record_item(client, tables, hold)
    if found is None:
        return None
    record = item_to_record(found)
    charge = record.debit if record.debit is not None else _charge_entry(client, tables, hold)
    return Movement.of_closed_settle(hold, record, charge)


def _charge_entry(client: DynamoDBClient, tables: Tables, hold: HoldRequest) -> int:
    """The request's charge entry in the ledger table (records that expire), 0 if there is none."""
    entry = retry_store(
        lambda: client.get_item(
            TableName=tables.ledger,
            Key={"account_id": S(hold.account_id), "entry_id": S(f"{hold.hold_id}#charge")},
            ConsistentRead=True,
        )
    ).get("Item")
    return 0 if entry is None else -int(entry["amount"]["N"])
