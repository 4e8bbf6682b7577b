"""Account and key storage (the admin side; the relay's reserve enforces status in its own write)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyChanges, KeyStatus
from tollway.ledger.model import Movement

__all__ = ["AccountPage", "AccountStore", "NotFoundError"]


class NotFoundError(LookupError):
    """The account or key does not exist."""


@dataclass(frozen=True)
class AccountPage:
    accounts: list[Account] = field(default_factory=list)
    next_cursor: str | None = None


class AccountStore(Protocol):
    def create_account(
        self, account: Account, *, initial_credit: int, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement | None:
        """Create the account holding ``initial_credit`` (with its ledger entry), atomically.

        Returns the credit movement whose history is still to be written, or ``None`` for no credit.
        Raises ``ValueError`` if the account id exists.
        """

    def get_account(self, account_id: str) -> Account | None: ...

    def set_account_status(self, account_id: str, status: AccountStatus) -> Account:
        """Raises NotFoundError."""

    def create_key(self, key: ApiKey) -> None:
        """Raises ValueError if the hash or id exists, NotFoundError if the account does not."""

    def get_key(self, key_hash: str) -> ApiKey | None: ...

    def get_key_by_id(self, key_id: str) -> ApiKey | None: ...

    def set_key_status(self, key_id: str, status: KeyStatus) -> ApiKey:
        """Raises NotFoundError."""

    def list_accounts(
        self, *, group: str | None, status: AccountStatus | None, limit: int, cursor: str | None
    ) -> AccountPage:
        """Accounts (optionally of one group/status), ``limit`` at a time; raises ValueError for a bad cursor."""

    def set_account_group(self, account_id: str, group: str) -> Account:
        """Raises NotFoundError."""

    def list_keys(self, account_id: str) -> list[ApiKey]:
        """Every key of an account (revoked ones included)."""

    def update_key(self, key_id: str, changes: KeyChanges, *, now: int) -> ApiKey:
        """Apply ``changes`` (a guard change bumps the guard revision). Raises NotFoundError."""

    def rotate_key(self, key_id: str, new_hash: str, new_prefix: str) -> tuple[ApiKey, ApiKey]:
        """Move a key to a new secret, same id, settings and counters (the old secret stops working at
        once); returns (old, new). Raises NotFoundError, ValueError (the key is revoked)."""
