"""The redemption-code store protocol (DynamoDB: ``dynamodb.py``; memory: ``memory.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tollway.redeem.model import Batch, Code, Redemption

__all__ = ["CodePage", "CodeStore"]


@dataclass(frozen=True)
class CodePage:
    codes: list[Code] = field(default_factory=list)
    next_cursor: str | None = None


class CodeStore(Protocol):
    def create_batch(self, batch: Batch, codes: list[Code]) -> None:
        """Store a batch and its codes, all or nothing (a failure removes what was written)."""

    def get_batch(self, batch_id: str) -> Batch | None: ...

    def list_batches(self) -> list[Batch]: ...

    def list_codes(self, batch_id: str, *, limit: int, cursor: str | None) -> CodePage: ...

    def disable(self, batch_id: str, code_id: str | None) -> int:
        """Disable one unused code of a batch, or every unused one; returns how many changed."""

    def redeem(
        self, code_hash: str, *, account_id: str, key_hash: str | None, key_id: str | None, movement_id: str, now: int
    ) -> Redemption:
        """Credit the code's value to the account and mark the code used, atomically. With a key (the
        ``POST /api/redeem`` route) the key must be usable too; the console redeems without one (its
        session already proved the account).

        Raises:
            RedeemRefused: unknown, used, disabled or expired code; wrong group; account or key not active.
        """
