"""In-memory account and key store."""

from __future__ import annotations

import dataclasses

from tollway.accounts.model import (
    Account,
    AccountStatus,
    ApiKey,
    GuardState,
    Keep,
    KeyChanges,
    KeyGuards,
    KeyStatus,
    apply_guard_changes,
    changed,
    merge_settings,
)
from tollway.accounts.ports import AccountPage, NotFoundError
from tollway.ledger.model import Hold, HoldState, Movement
from tollway.ledger.settlement import build_credit_movement
from tollway.memory.backend import MemoryBackend
from tollway.usage.query import decode_cursor, encode_cursor

__all__ = ["MemoryAccounts"]


class MemoryAccounts:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def create_account(
        self, account: Account, *, initial_credit: int, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement | None:
        if initial_credit < 0:
            raise ValueError("initial credit must not be negative")
        with self._b.lock:
            if account.account_id in self._b.accounts:
                raise ValueError(f"account {account.account_id} exists")
            self._b.accounts[account.account_id] = dataclasses.replace(account, balance=initial_credit)
            if not initial_credit:
                return None
            movement = build_credit_movement(
                account.account_id, initial_credit, movement_id=movement_id, reason=reason, actor=actor, now=now
            )
            self._b.holds[movement_id] = Hold(
                hold_id=movement_id,
                account_id=account.account_id,
                state=HoldState.SETTLED,
                amount=0,
                created_at=now,
                kind="credit",
                settled_at=now,
                movement=movement,
            )
            return movement

    def get_account(self, account_id: str) -> Account | None:
        with self._b.lock:
            return self._b.accounts.get(account_id)

    def set_account_status(self, account_id: str, status: AccountStatus) -> Account:
        with self._b.lock:
            account = self._b.accounts.get(account_id)
            if account is None:
                raise NotFoundError(account_id)
            updated = dataclasses.replace(account, status=status)
            self._b.accounts[account_id] = updated
            return updated

    def create_key(self, key: ApiKey) -> None:
        with self._b.lock:
            if key.account_id not in self._b.accounts:
                raise NotFoundError(key.account_id)
            if key.key_hash in self._b.keys or any(k.key_id == key.key_id for k in self._b.keys.values()):
                raise ValueError("key exists")
            self._b.keys[key.key_hash] = key

    def get_key(self, key_hash: str) -> ApiKey | None:
        with self._b.lock:
            return self._b.keys.get(key_hash)

    def get_key_by_id(self, key_id: str) -> ApiKey | None:
        with self._b.lock:
            return next((k for k in self._b.keys.values() if k.key_id == key_id), None)

    def set_key_status(self, key_id: str, status: KeyStatus) -> ApiKey:
        with self._b.lock:
            key = self.get_key_by_id(key_id)
            if key is None:
                raise NotFoundError(key_id)
            updated = dataclasses.replace(key, status=status)
            self._b.keys[key.key_hash] = updated
            self._bump_key_rev(key.account_id)
            return updated

    def list_accounts(
        self, *, group: str | None, status: AccountStatus | None, limit: int, cursor: str | None
    ) -> AccountPage:
        with self._b.lock:
            matching = [
                a
                for a in sorted(self._b.accounts.values(), key=lambda a: a.account_id)
                if (group is None or a.group == group) and (status is None or a.status is status)
            ]
        if cursor:
            after = str(decode_cursor(cursor).get("after", ""))
            matching = [a for a in matching if a.account_id > after]
        page = matching[:limit]
        more = len(matching) > limit and page
        return AccountPage(page, encode_cursor({"after": page[-1].account_id}) if more else None)

    def set_account_group(self, account_id: str, group: str) -> Account:
        with self._b.lock:
            account = self._b.accounts.get(account_id)
            if account is None:
                raise NotFoundError(account_id)
            updated = dataclasses.replace(account, group=group)
            self._b.accounts[account_id] = updated
            return updated

    def list_keys(self, account_id: str) -> list[ApiKey]:
        with self._b.lock:
            return sorted((k for k in self._b.keys.values() if k.account_id == account_id), key=lambda k: k.key_id)

    def update_key(self, key_id: str, changes: KeyChanges, *, now: int) -> ApiKey:
        with self._b.lock:
            key = self.get_key_by_id(key_id)
            if key is None:
                raise NotFoundError(key_id)
            rev = max(now, (key.guards.rev + 1) if key.guards else 0)
            guards = apply_guard_changes(key.guards, changes, rev) if changes.touches_guards() else key.guards
            updated = dataclasses.replace(
                key,
                name=changed(changes.name, key.name),
                remaining=self._limit_net_of_holds(key, changes),
                expires_at=changed(changes.expires_at, key.expires_at),
                models=changed(changes.models, key.models),
                cidrs=changed(changes.cidrs, key.cidrs),
                guards=guards,
                guard_state=_state_after(key, guards),
                settings=key.settings
                if isinstance(changes.settings, Keep)
                else merge_settings(key.settings, changes.settings),
            )
            self._b.keys[key.key_hash] = updated
            self._bump_key_rev(key.account_id)
            return updated

    def _limit_net_of_holds(self, key: ApiKey, changes: KeyChanges) -> int | None:
        """A limit set is what the key may still spend, requests in flight included (as on DynamoDB)."""
        remaining = changed(changes.remaining, key.remaining)
        if isinstance(changes.remaining, Keep) or remaining is None:
            return remaining
        held = sum(
            h.amount
            for h in self._b.holds.values()
            if h.key_hash == key.key_hash and h.state is HoldState.OPEN and h.key_limited
        )
        return max(0, remaining - held)

    def rotate_key(self, key_id: str, new_hash: str, new_prefix: str) -> tuple[ApiKey, ApiKey]:
        with self._b.lock:
            key = self.get_key_by_id(key_id)
            if key is None:
                raise NotFoundError(key_id)
            if key.status is KeyStatus.REVOKED:
                raise ValueError("a revoked key cannot be rotated")
            if new_hash in self._b.keys:
                raise ValueError("key exists")
            # In-flight requests of the old secret give their lease back to the old (gone) item.
            state = dataclasses.replace(key.guard_state, inflight=None)
            new = dataclasses.replace(key, key_hash=new_hash, prefix=new_prefix, guard_state=state)
            del self._b.keys[key.key_hash]
            self._b.keys[new_hash] = new
            self._bump_key_rev(key.account_id)
            return key, new

    def _bump_key_rev(self, account_id: str) -> None:
        """Every key change moves its account's key_rev, as the DynamoDB store does (callers hold the lock)."""
        account = self._b.accounts.get(account_id)
        if account is not None:
            self._b.accounts[account_id] = dataclasses.replace(account, key_rev=account.key_rev + 1)


def _state_after(key: ApiKey, guards: KeyGuards | None) -> GuardState:
    """The counters after a guard change (mirrors the DynamoDB update): a cap that changes mid-period
    keeps what was already spent; a guard turned off drops its counters."""
    old, state = key.guards, key.guard_state
    if guards is None:
        return GuardState()
    changes: dict[str, object] = {}
    old_daily = None if old is None else old.daily_cap
    if guards.daily_cap is None:
        changes.update(day_period=None, day_left=None)
    elif old_daily is not None and state.day_left is not None:
        changes["day_left"] = state.day_left + guards.daily_cap - old_daily
    old_monthly = None if old is None else old.monthly_cap
    if guards.monthly_cap is None:
        changes.update(month_period=None, month_left=None)
    elif old_monthly is not None and state.month_left is not None:
        changes["month_left"] = state.month_left + guards.monthly_cap - old_monthly
    if guards.rpm is None:
        changes.update(rpm_window=None, rpm_count=None)
    if guards.concurrency is None:
        changes["inflight"] = None
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]
