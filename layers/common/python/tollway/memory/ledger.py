"""In-memory ledger store: the reference semantics the DynamoDB store must match."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from tollway.accounts.model import AccountStatus, GuardState, KeyGuards, KeyStatus
from tollway.guards import Plan, guard_rejection, plan_from_state
from tollway.ledger.model import (
    AuditReport,
    EntryKind,
    GuardUse,
    Hold,
    HoldRejected,
    HoldRequest,
    HoldState,
    LedgerEntry,
    Movement,
    RejectReason,
)
from tollway.ledger.settlement import build_credit_movement, build_settle_movement, plan_settle
from tollway.memory.backend import MemoryBackend
from tollway.records import UsageRecord

__all__ = ["MemoryLedger"]


class MemoryLedger:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def reserve(self, request: HoldRequest) -> HoldRequest:
        b = self._b
        with b.lock:
            existing = b.holds.get(request.hold_id)
            if existing is not None:
                if existing.account_id == request.account_id and existing.amount == request.amount:
                    return existing.request()  # a repeat of a reserve that already happened
                raise ValueError(f"hold id {request.hold_id} reused")
            account = b.accounts.get(request.account_id)
            key = b.keys.get(request.key_hash)
            # Status before money, as the DynamoDB store reports it.
            if account is None:
                raise HoldRejected(RejectReason.ACCOUNT_MISSING)
            if account.status is not AccountStatus.ACTIVE:
                raise HoldRejected(RejectReason.ACCOUNT_DISABLED)
            by_rev = request.key_rev is not None and not request.key_limited and request.guards is None
            if by_rev and account.key_rev != request.key_rev:
                raise HoldRejected(RejectReason.KEY_KIND_CHANGED)  # as DynamoDB: the copy is stale
            if key is None:
                raise HoldRejected(RejectReason.KEY_MISSING)
            if key.status is KeyStatus.REVOKED:
                raise HoldRejected(RejectReason.KEY_REVOKED)
            if key.status is not KeyStatus.ACTIVE:
                raise HoldRejected(RejectReason.KEY_DISABLED)
            if key.expired(time.time()):
                raise HoldRejected(RejectReason.KEY_EXPIRED)
            if key.limited != request.key_limited or _guard_rev(key.guards) != _use_rev(request.guards):
                raise HoldRejected(RejectReason.KEY_KIND_CHANGED, key_remaining=key.remaining)
            state = key.guard_state
            if request.guards is not None and key.guards is not None:
                plan = plan_from_state(request.guards, state)
                rejected = guard_rejection(
                    plan,
                    key.guards,
                    state,
                    request.amount,
                    request.created_at,
                    balance=account.balance,
                    remaining=key.remaining,
                )
                if rejected is not None:
                    raise rejected
                state = _reserved_state(state, plan, key.guards, request.amount)
                request = dataclasses.replace(request, guards=plan.use)
            short_balance = account.balance < request.amount
            short_key = key.remaining is not None and key.remaining < request.amount
            if short_balance or short_key:
                reason = RejectReason.BALANCE if short_balance else RejectReason.KEY_LIMIT
                raise HoldRejected(reason, account_balance=account.balance, key_remaining=key.remaining)
            b.accounts[account.account_id] = dataclasses.replace(account, balance=account.balance - request.amount)
            remaining = None if key.remaining is None else key.remaining - request.amount
            b.keys[key.key_hash] = dataclasses.replace(key, remaining=remaining, guard_state=state)
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
                guards=request.guards,
            )
            return request

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int) -> Movement | None:
        b = self._b
        with b.lock:
            stored = b.holds.get(hold.hold_id)
            if stored is None:
                # settled and closed before (a repeat, or maintenance first): its record is the answer
                done = b.usage.get(hold.hold_id)
                entry = b.ledger.get(hold.account_id, {}).get(f"{hold.hold_id}#charge")
                charge = 0 if entry is None else -entry.amount
                return None if done is None else Movement.of_closed_settle(hold, done, charge)
            if stored.state is HoldState.SETTLED:
                return stored.movement
            account = b.accounts[stored.account_id]
            key = b.keys.get(stored.key_hash or "") if stored.key_limited or stored.guards else None
            guards = stored.guards
            if key is None and (stored.key_limited or guards):
                # rotated while in flight: the limit and caps moved to the new secret (no lease there)
                key = next((k for k in b.keys.values() if k.key_id == stored.key_id), None)
                guards = None if guards is None else dataclasses.replace(guards, lease=False)
            available = account.balance
            if key is not None and stored.key_limited and key.remaining is not None:
                available = min(available, key.remaining)
            plan = plan_settle(cost, stored.amount, available)
            request = stored.request()
            movement = build_settle_movement(request, plan, record, now)
            b.accounts[account.account_id] = dataclasses.replace(account, balance=account.balance + plan.delta)
            if key is not None:
                remaining = key.remaining
                if stored.key_limited and remaining is not None:
                    remaining += plan.delta
                state = _settled_state(key.guard_state, guards, plan.delta)
                b.keys[key.key_hash] = dataclasses.replace(key, remaining=remaining, guard_state=state)
            # One step, as the DynamoDB store's one transaction: entries and record written, hold closed.
            for entry in movement.entries:
                b.ledger.setdefault(entry.account_id, {})[entry.entry_id] = entry
            if movement.record is not None:
                b.usage[movement.record.request_id] = movement.record
            del b.holds[stored.hold_id]
            return dataclasses.replace(movement, closed=True)

    def charged(self, hold: HoldRequest) -> int:
        b = self._b
        with b.lock:
            stored = b.holds.get(hold.hold_id)
            if stored is not None:
                return stored.movement.charge if stored.movement is not None else 0
            entry = b.ledger.get(hold.account_id, {}).get(f"{hold.hold_id}#charge")
            return 0 if entry is None else -entry.amount

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
        if movement.closed:
            return  # written by its settle
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

    def audit_accounts(self, ids: Iterable[str]) -> list[AuditReport]:
        return [self.audit(i) for i in ids]  # each under the one lock: consistent by construction

    def credits(self, account_id: str, *, limit: int, max_read: int) -> list[LedgerEntry]:
        with self._b.lock:
            newest = sorted(self._b.ledger.get(account_id, {}).values(), key=lambda e: e.entry_id, reverse=True)
        wanted = (EntryKind.CREDIT, EntryKind.DEBIT)
        return [e for e in newest[:max_read] if e.kind in wanted][:limit]

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


def _guard_rev(guards: KeyGuards | None) -> int | None:
    return None if guards is None else guards.rev


def _use_rev(use: GuardUse | None) -> int | None:
    return None if use is None else use.rev


def _reserved_state(state: GuardState, plan: Plan, guards: KeyGuards, amount: int) -> GuardState:
    """The counters after a reserve (mirrors the DynamoDB update expression)."""
    use = plan.use
    changes: dict[str, object] = {}
    if use.day is not None and guards.daily_cap is not None:
        left = guards.daily_cap if plan.day_roll else (state.day_left or 0)
        changes.update(day_period=use.day, day_left=left - amount)
    if use.month is not None and guards.monthly_cap is not None:
        left = guards.monthly_cap if plan.month_roll else (state.month_left or 0)
        changes.update(month_period=use.month, month_left=left - amount)
    if use.minute is not None:
        changes.update(rpm_window=use.minute, rpm_count=1 if plan.minute_roll else (state.rpm_count or 0) + 1)
    if use.lease:
        changes.update(inflight=(state.inflight or 0) + 1)
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


def _settled_state(state: GuardState, use: GuardUse | None, delta: int) -> GuardState:
    """The counters after a settle: the unused part back to caps still in the request's period, and
    the concurrency lease released (never below zero)."""
    if use is None:
        return state
    changes: dict[str, object] = {}
    if use.day is not None and state.day_period == use.day and state.day_left is not None:
        changes["day_left"] = state.day_left + delta
    if use.month is not None and state.month_period == use.month and state.month_left is not None:
        changes["month_left"] = state.month_left + delta
    if use.lease and (state.inflight or 0) >= 1:
        changes["inflight"] = (state.inflight or 0) - 1
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]
