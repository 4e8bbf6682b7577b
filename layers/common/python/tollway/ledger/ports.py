"""The ledger store protocol. Implemented on DynamoDB (``dynamodb.py``) and in memory (``memory.py``);
both pass the same contract tests.

Every method is safe to repeat: a repeated reserve, settle, history write or close (a boto3 retry of a
write that already succeeded, a Lambda retry, maintenance racing the request) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from tollway.ledger.model import AuditReport, Hold, HoldRequest, LedgerEntry, Movement
from tollway.records import UsageRecord

__all__ = ["LedgerStore"]


class LedgerStore(Protocol):
    def reserve(self, request: HoldRequest) -> HoldRequest:
        """Debit the account (and a limited key) by ``request.amount``, count the request against the
        key's guards, and record an open hold, atomically.

        Returns the request as recorded: the same, except that a guard period may be the one the store
        already holds (another process's clock a little ahead) — settle must get this one.

        Raises:
            HoldRejected: a condition failed (status, expiry, balance, key limit, guards), with what it
                revealed.
        """

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int) -> Movement | None:
        """Settle a hold at ``cost``: return the unused part (or take an overrun as far as the balance
        and the key limit allow, the rest being a shortfall), write the request's charge entry and its
        record, and close the hold — all at once (the movement comes back ``closed``). A repeat returns
        what the first settle wrote; ``None`` if the hold is gone and left no record.
        """

    def charged(self, hold: HoldRequest) -> int:
        """What a request was charged when its settle returned no movement (settled and closed by
        maintenance, or deferred to it): never a price it was not charged."""

    def credit(
        self, account_id: str, amount: int, *, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement:
        """Add ``amount`` (negative: a debit, refused below zero) to the balance, with a settled marker.

        Raises:
            HoldRejected: the account is missing, or a debit would take the balance below zero.
        """

    def write_history(self, movement: Movement) -> None:
        """Write a settled movement's ledger entries and usage record (idempotent puts; a no-op for a
        ``closed`` movement, whose settle wrote them)."""

    def close(self, movement_id: str) -> None:
        """Delete a settled marker once its history is written (no-op if already gone)."""

    def put_record(self, record: UsageRecord) -> None:
        """Write a usage record that has no balance movement (a refusal); idempotent."""

    def holds(self) -> list[Hold]:
        """Every row of the holds table (it stays small: in-flight requests and unfinished markers)."""

    def balance(self, account_id: str) -> int | None:
        """The account's current balance, or ``None`` if it does not exist (strongly consistent)."""

    def audit(self, account_id: str) -> AuditReport:
        """Invariant 5 for one account."""

    def audit_accounts(self, ids: Iterable[str]) -> list[AuditReport]:
        """Invariant 5 for each account, consistent under live traffic (a difference that is only a
        request moving money between two reads is not reported)."""

    def credits(self, account_id: str, *, limit: int, max_read: int) -> list[LedgerEntry]:
        """The account's credit and debit entries (top-ups, sign-up credit, redemptions, adjustments),
        newest first: at most ``limit`` of them, from at most ``max_read`` of its newest entries."""

    def account_ids(self) -> list[str]:
        """Every account id (for audit.run over all accounts)."""
