"""The audit on DynamoDB: invariant 5, Σ entries (written or pending) − open holds = balance.

The entries are the ledger table's items and the requests' charge entries that their usage records
carry (``debit``; see ``settle.py``).

DynamoDB has no snapshot read across tables, so one account's figures come from separate reads: the
holds (one scan for every account audited), the account's ledger entries, and its balance. The order
makes history and close harmless (holds before entries: a marker closed meanwhile has its entries
written already), and the balance is read before the holds and after the entries: a reserve or settle moves the balance
with its hold in one transaction, so an unchanged balance means none landed in between. An account
whose figures still differ is audited again (with a fresh scan shared by all such accounts) until two
rounds agree on the same difference — a live request moves the figures, a real difference stays.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tollway.dynamo import S, retry_store
from tollway.ledger.codecs import hold_of
from tollway.ledger.model import AuditReport, Hold, HoldState, LedgerEntry
from tollway.records_dynamo import item_to_entry
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["account_ids", "audit", "audit_accounts", "balance", "credits", "holds"]

_ROUNDS = 6


def holds(client: DynamoDBClient, tables: Tables) -> list[Hold]:
    paginator = client.get_paginator("scan")
    out: list[Hold] = []
    for page in paginator.paginate(TableName=tables.holds, ConsistentRead=True):
        out.extend(hold_of(item) for item in page.get("Items", []))
    return out


def balance(client: DynamoDBClient, tables: Tables, account_id: str) -> int | None:
    item = retry_store(
        lambda: client.get_item(TableName=tables.accounts, Key={"account_id": S(account_id)}, ConsistentRead=True)
    ).get("Item")
    return None if item is None else int(item["balance"]["N"])


def account_ids(client: DynamoDBClient, tables: Tables) -> list[str]:
    paginator = client.get_paginator("scan")
    ids: list[str] = []
    for page in paginator.paginate(TableName=tables.accounts, ProjectionExpression="account_id"):
        ids.extend(item["account_id"]["S"] for item in page.get("Items", []))
    return ids


def credits(client: DynamoDBClient, tables: Tables, account_id: str, *, limit: int, max_read: int) -> list[LedgerEntry]:
    """The account's credit and debit entries, newest first (at most ``limit``, from at most ``max_read``
    of its newest entries)."""
    found: list[LedgerEntry] = []
    read = 0
    start: dict[str, Any] | None = None
    while read < max_read and len(found) < limit:
        args: dict[str, Any] = {
            "TableName": tables.ledger,
            "KeyConditionExpression": "account_id = :a",
            "FilterExpression": "kind IN (:c, :d)",
            "ExpressionAttributeValues": {":a": S(account_id), ":c": S("credit"), ":d": S("debit")},
            "ScanIndexForward": False,  # entry ids begin with their movement's time: newest first
            "Limit": min(1000, max_read - read),
        }
        if start is not None:
            args["ExclusiveStartKey"] = start
        page = retry_store(lambda args=args: client.query(**args))  # type: ignore[misc]
        read += int(page.get("ScannedCount", 0))
        found.extend(item_to_entry(i) for i in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    return found[:limit]


@dataclass(frozen=True, slots=True)
class _Reading:
    report: AuditReport
    steady: bool  # the balance did not move while the account was read


def audit(client: DynamoDBClient, tables: Tables, account_id: str, holds_now: list[Hold] | None = None) -> AuditReport:
    """One account's figures, read once (see the module docstring for what one reading can show)."""
    before = balance(client, tables, account_id)
    scanned = holds(client, tables) if holds_now is None else holds_now
    return _read(client, tables, account_id, [h for h in scanned if h.account_id == account_id], before).report


def audit_accounts(client: DynamoDBClient, tables: Tables, ids: Iterable[str]) -> list[AuditReport]:
    """Every account's figures, consistent: one holds scan per round, repeated only for accounts that
    differ, until a difference is the same in two rounds in a row with the balance steady."""
    wanted = list(ids)
    final: dict[str, AuditReport] = {}
    previous: dict[str, int] = {}
    pending = wanted
    for round_no in range(_ROUNDS):
        # each balance read before the scan and again after the entries: "steady" covers the scan too
        before = {account_id: balance(client, tables, account_id) for account_id in pending}
        by_account = _group(holds(client, tables), pending)
        again: list[str] = []
        for account_id in pending:
            reading = _read(client, tables, account_id, by_account.get(account_id, []), before[account_id])
            report = reading.report
            final[account_id] = report
            if report.ok:
                continue
            if reading.steady and previous.get(account_id) == report.difference:
                continue  # the same difference twice, nothing moving: a real one
            previous[account_id] = report.difference if reading.steady else _UNSTEADY
            again.append(account_id)
        if not again:
            break
        pending = again
        time.sleep(min(0.5, 0.05 * 2**round_no))  # let the requests in flight land
    return [final[i] for i in wanted]


_UNSTEADY = -(2**62)  # a difference no steady reading can equal


def _group(scanned: list[Hold], ids: list[str]) -> dict[str, list[Hold]]:
    wanted = set(ids)
    grouped: dict[str, list[Hold]] = {}
    for hold in scanned:
        if hold.account_id in wanted:
            grouped.setdefault(hold.account_id, []).append(hold)
    return grouped


def _read(
    client: DynamoDBClient, tables: Tables, account_id: str, account_holds: list[Hold], before: int | None
) -> _Reading:
    # balance → holds (scanned by the caller) → entries → balance: a marker closed after the scan has
    # its entries written before the close, so it is counted once either way.
    written: dict[str, int] = {}
    paginator = client.get_paginator("query")
    for page in paginator.paginate(
        TableName=tables.ledger,
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": S(account_id)},
        ProjectionExpression="entry_id, amount",
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            written[item["entry_id"]["S"]] = int(item["amount"]["N"])
    # A settled request's charge entry is stored in its usage record (settle.py): read those too. The
    # settle puts the record and deletes the hold in one transaction, so either the hold was scanned
    # open or its record is here (both: the balance moved, or the next round agrees).
    for page in paginator.paginate(
        TableName=tables.usage,
        KeyConditionExpression="account_id = :a",
        FilterExpression="attribute_exists(debit)",
        ExpressionAttributeValues={":a": S(account_id)},
        ProjectionExpression="request_id, debit",
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            written[f"{item['request_id']['S']}#charge"] = -int(item["debit"]["N"])
    after = balance(client, tables, account_id)
    pending = open_total = 0
    for hold in account_holds:
        if hold.state is HoldState.OPEN:
            open_total += hold.amount
        elif hold.movement is not None:
            pending += sum(e.amount for e in hold.movement.entries if e.entry_id not in written)
    report = AuditReport(
        account_id=account_id,
        balance=0 if after is None else after,
        entries_total=sum(written.values()),
        pending_total=pending,
        open_holds_total=open_total,
        entries=len(written),
    )
    return _Reading(report=report, steady=before == after)
