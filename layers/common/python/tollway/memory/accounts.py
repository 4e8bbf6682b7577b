"""In-memory account and key store."""

from __future__ import annotations

import dataclasses

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.accounts.ports import NotFoundError
from tollway.ledger.model import Hold, HoldState, Movement
from tollway.ledger.settlement import build_credit_movement
from tollway.memory.backend import MemoryBackend

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
            return updated
