"""In-memory ledger store: the reference semantics the DynamoDB store must match."""

from __future__ import annotations

import dataclasses
import time

from tollway.accounts.model import AccountStatus, KeyStatus
from tollway.ledger.model import AuditReport, Hold, HoldRejected, HoldRequest, HoldState, Movement, RejectReason
from tollway.ledger.settlement import build_credit_movement, build_settle_movement, plan_settle
from tollway.memory.backend import MemoryBackend
from tollway.records import UsageRecord

__all__ = ["MemoryLedger"]


class MemoryLedger:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def reserve(self, request: HoldRequest) -> None:
        b = self._b
        with b.lock:
            existing = b.holds.get(request.hold_id)
            if existing is not None:
                if existing.account_id == request.account_id and existing.amount == request.amount:
                    return  # a repeat of a reserve that already happened
                raise ValueError(f"hold id {request.hold_id} reused")
            account = b.accounts.get(request.account_id)
            key = b.keys.get(request.key_hash)
            # Status before money, as the DynamoDB store reports it.
            if account is None:
                raise HoldRejected(RejectReason.ACCOUNT_MISSING)
            if account.status is not AccountStatus.ACTIVE:
                raise HoldRejected(RejectReason.ACCOUNT_DISABLED)
            if key is None:
                raise HoldRejected(RejectReason.KEY_MISSING)
            if key.status is KeyStatus.REVOKED:
                raise HoldRejected(RejectReason.KEY_REVOKED)
            if key.status is not KeyStatus.ACTIVE:
                raise HoldRejected(RejectReason.KEY_DISABLED)
            if key.expired(time.time()):
                raise HoldRejected(RejectReason.KEY_EXPIRED)
            if key.limited != request.key_limited:
                raise HoldRejected(RejectReason.KEY_KIND_CHANGED, key_remaining=key.remaining)
            short_balance = account.balance < request.amount
            short_key = key.remaining is not None and key.remaining < request.amount
            if short_balance or short_key:
                reason = RejectReason.BALANCE if short_balance else RejectReason.KEY_LIMIT
                raise HoldRejected(reason, account_balance=account.balance, key_remaining=key.remaining)
            b.accounts[account.account_id] = dataclasses.replace(account, balance=account.balance - request.amount)
            if key.remaining is not None:
                b.keys[key.key_hash] = dataclasses.replace(key, remaining=key.remaining - request.amount)
            b.holds[request.hold_id] = Hold(
                hold_id=request.hold_id,
                account_id=request.account_id,
                state=HoldState.OPEN,
                amount=request.amount,
                created_at=request.created_at,
                key_hash=request.key_hash,
                key_id=request.key_id,
                key_limited=request.key_limited,
                endpoint=request.endpoint,
                model=request.model,
            )

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int) -> Movement | None:
        b = self._b
        with b.lock:
            stored = b.holds.get(hold.hold_id)
            if stored is None:
                return None
            if stored.state is HoldState.SETTLED:
                return stored.movement
            account = b.accounts[stored.account_id]
            key = b.keys.get(stored.key_hash or "") if stored.key_limited else None
            available = account.balance
            if key is not None and key.remaining is not None:
                available = min(available, key.remaining)
            plan = plan_settle(cost, stored.amount, available)
            request = stored.request()
            movement = build_settle_movement(request, plan, record, now)
            b.accounts[account.account_id] = dataclasses.replace(account, balance=account.balance + plan.delta)
            if key is not None and key.remaining is not None:
                b.keys[key.key_hash] = dataclasses.replace(key, remaining=key.remaining + plan.delta)
            b.holds[stored.hold_id] = dataclasses.replace(
                stored, state=HoldState.SETTLED, settled_at=now, movement=movement
            )
            return movement

    def credit(
        self, account_id: str, amount: int, *, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement:
        b = self._b
        with b.lock:
            existing = b.holds.get(movement_id)
            if existing is not None and existing.movement is not None:
                return existing.movement
            account = b.accounts.get(account_id)
            if account is None:
                raise HoldRejected(RejectReason.ACCOUNT_MISSING)
            if account.balance + amount < 0:
                raise HoldRejected(RejectReason.BALANCE, account_balance=account.balance)
            movement = build_credit_movement(
                account_id, amount, movement_id=movement_id, reason=reason, actor=actor, now=now
            )
            b.accounts[account_id] = dataclasses.replace(account, balance=account.balance + amount)
            b.holds[movement_id] = Hold(
                hold_id=movement_id,
                account_id=account_id,
                state=HoldState.SETTLED,
                amount=0,
                created_at=now,
                kind="credit",
                settled_at=now,
                movement=movement,
            )
            return movement

    def write_history(self, movement: Movement) -> None:
        b = self._b
        with b.lock:
            for entry in movement.entries:
                b.ledger.setdefault(entry.account_id, {})[entry.entry_id] = entry
            if movement.record is not None:
                b.usage[movement.record.request_id] = movement.record

    def close(self, movement_id: str) -> None:
        b = self._b
        with b.lock:
            hold = b.holds.get(movement_id)
            if hold is not None and hold.state is HoldState.SETTLED:
                del b.holds[movement_id]

    def put_record(self, record: UsageRecord) -> None:
        with self._b.lock:
            self._b.usage.setdefault(record.request_id, record)

    def holds(self) -> list[Hold]:
        with self._b.lock:
            return list(self._b.holds.values())

    def balance(self, account_id: str) -> int | None:
        with self._b.lock:
            account = self._b.accounts.get(account_id)
            return None if account is None else account.balance

    def account_ids(self) -> list[str]:
        with self._b.lock:
            return list(self._b.accounts)

    def audit(self, account_id: str) -> AuditReport:
        b = self._b
        with b.lock:
            written = b.ledger.get(account_id, {})
            pending = 0
            open_total = 0
            for hold in b.holds.values():
                if hold.account_id != account_id:
                    continue
                if hold.state is HoldState.OPEN:
                    open_total += hold.amount
                elif hold.movement is not None:
                    pending += sum(e.amount for e in hold.movement.entries if e.entry_id not in written)
            account = b.accounts.get(account_id)
            return AuditReport(
                account_id=account_id,
                balance=0 if account is None else account.balance,
                entries_total=sum(e.amount for e in written.values()),
                pending_total=pending,
                open_holds_total=open_total,
                entries=len(written),
            )
