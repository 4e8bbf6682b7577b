"""Account and key storage (the admin side; the relay's reserve enforces status in its own write)."""

from __future__ import annotations

from typing import Protocol

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.ledger.model import Movement

__all__ = ["AccountStore", "NotFoundError"]


class NotFoundError(LookupError):
    """The account or key does not exist."""


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
