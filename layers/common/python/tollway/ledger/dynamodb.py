"""The ledger on DynamoDB.

Timeline of one billed request (2 writes; the first is the only one before the upstream call)::

    reserve ─ TransactWriteItems on the small hot tables
    │   accounts[a]  balance -= hold        IF exists AND status = active AND balance >= hold
    │                                       (unlimited key without guards: AND key_rev = the rev its
    │                                       cached copy was read with — any key change moves it)
    │   keys[h]      remaining -= hold      IF status = active AND not expired AND remaining >= hold
    │                (limited or guarded keys only; + the key's guards: caps, rate, concurrency — keyops.py)
    │   holds[r]     put {state: open}      IF attribute_not_exists(hold_id)     ← makes a repeat a no-op
    ▼
    upstream call
    ▼
    settle ─ TransactWriteItems: everything the request leaves, at once
        holds[r]     delete                 IF state = open                        ← settle-once
        accounts[a]  balance += hold − charged            (an overrun: IF balance >= taken)
        keys[h]      remaining += hold − charged          (limited keys only; guarded keys: caps
                                                          get the unused part back, the lease is released)
        usage[a, r]  put record = the request's ledger debit   IF attribute_not_exists(request_id)
        (ledger[a, r#charge] put, only when records expire by TTL)

Write units for an unlimited key (records under 1 KB): reserve 4 + settle 7 = 11; when records expire
by TTL the charge entry is its own item, 2 more (docs/contracts.md).

Movements born settled (credits, account creation, redemptions, task refunds) still go marker →
history → close: their marker is put in the transaction that moves the balance, and ``history.py``
writes their entries and closes it.

Each movement reads top to bottom in its own module: ``reserve.py``, ``settle.py``, ``credit.py``,
``history.py`` (history, close, refusal records), ``audit.py`` (reads and invariant 5), ``codecs.py``
(hold and marker items). Every money transaction carries an idempotency token derived from its
movement id, and every refused condition is first checked for the movement's own earlier write.

A crash before the settle leaves an open hold; maintenance refunds it once it is older than the
function timeout (or settles it at the charge a settle that could not land stored on it). A crash
after a born-settled movement's transaction leaves its marker; maintenance writes its history and
closes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tollway.ledger import audit as _audit
from tollway.ledger import credit as _credit
from tollway.ledger import history as _history
from tollway.ledger.landed import charged as _charged
from tollway.ledger.model import AuditReport, Hold, HoldRequest, LedgerEntry, Movement
from tollway.ledger.reserve import reserve as _reserve
from tollway.ledger.settle import RecordShape
from tollway.ledger.settle import settle as _settle
from tollway.records import UsageRecord
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoLedger"]


class DynamoLedger:
    """:class:`tollway.ledger.LedgerStore` on DynamoDB (each movement in its own module)."""

    def __init__(self, client: DynamoDBClient, tables: Tables, *, usage_shards: int = 8, usage_ttl_days: int = 0):
        self._c = client
        self._t = tables
        self._shards = usage_shards
        self._ttl_days = usage_ttl_days
        self._shape = RecordShape(shards=usage_shards, ttl_days=usage_ttl_days)

    @property
    def client(self) -> DynamoDBClient:
        return self._c

    @property
    def tables(self) -> Tables:
        return self._t

    def reserve(self, request: HoldRequest) -> HoldRequest:
        return _reserve(self._c, self._t, request)

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int) -> Movement | None:
        return _settle(self._c, self._t, hold, cost, record, now=now, shape=self._shape)

    def charged(self, hold: HoldRequest) -> int:
        return _charged(self._c, self._t, hold)

    def credit(
        self, account_id: str, amount: int, *, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement:
        return _credit.credit(
            self._c, self._t, account_id, amount, movement_id=movement_id, reason=reason, actor=actor, now=now
        )

    def marker_put(self, movement: Movement, now: int) -> dict[str, Any]:
        """The transaction item that records a movement born settled (credits, account creation)."""
        return _credit.marker_put(self._t, movement, now)

    def write_history(self, movement: Movement) -> None:
        if movement.closed:
            return  # a request's settle wrote its history itself: writing it again could only add
        _history.write_history(self._c, self._t, movement, shards=self._shards, ttl_days=self._ttl_days)

    def close(self, movement_id: str) -> None:
        _history.close(self._c, self._t, movement_id)

    def put_record(self, record: UsageRecord) -> None:
        _history.put_record(self._c, self._t, record, shards=self._shards, ttl_days=self._ttl_days)

    def holds(self) -> list[Hold]:
        return _audit.holds(self._c, self._t)

    def balance(self, account_id: str) -> int | None:
        return _audit.balance(self._c, self._t, account_id)

    def account_ids(self) -> list[str]:
        return _audit.account_ids(self._c, self._t)

    def credits(self, account_id: str, *, limit: int, max_read: int) -> list[LedgerEntry]:
        return _audit.credits(self._c, self._t, account_id, limit=limit, max_read=max_read)

    def audit(self, account_id: str, holds: list[Hold] | None = None) -> AuditReport:
        return _audit.audit(self._c, self._t, account_id, holds)

    def audit_accounts(self, ids: Iterable[str]) -> list[AuditReport]:
        return _audit.audit_accounts(self._c, self._t, ids)
