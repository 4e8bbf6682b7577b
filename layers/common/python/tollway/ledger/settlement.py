"""Pure settle arithmetic shared by every ledger store."""

from __future__ import annotations

from dataclasses import dataclass

from tollway.ledger.model import EntryKind, HoldRequest, LedgerEntry, Movement
from tollway.records import UsageRecord

__all__ = ["SettlePlan", "build_credit_movement", "build_settle_movement", "plan_settle"]


@dataclass(frozen=True, slots=True)
class SettlePlan:
    """How a settle moves money: ``delta`` goes back to the account (and a limited key)."""

    cost: int
    hold: int
    take_excess: int  # of an overrun, what is taken beyond the hold

    @property
    def charged(self) -> int:
        return min(self.cost, self.hold) + self.take_excess

    @property
    def shortfall(self) -> int:
        return max(self.cost - self.hold, 0) - self.take_excess

    @property
    def delta(self) -> int:
        """Signed change of the balance at settle (hold − charged)."""
        return self.hold - self.charged


def plan_settle(cost: int, hold: int, available: int | None = None) -> SettlePlan:
    """Charge ``cost`` against a ``hold``; an overrun takes at most ``available`` (None: try all of it)."""
    if cost < 0 or hold < 0:
        raise ValueError("cost and hold must not be negative")
    excess = max(cost - hold, 0)
    take = excess if available is None else max(0, min(excess, available))
    return SettlePlan(cost=cost, hold=hold, take_excess=take)


def build_settle_movement(request: HoldRequest, plan: SettlePlan, record: UsageRecord, now: int) -> Movement:
    """The entries and the final record of a settled request."""
    entries: tuple[LedgerEntry, ...] = ()
    if plan.charged:
        entries = (
            LedgerEntry(
                account_id=request.account_id,
                entry_id=f"{request.hold_id}#charge",
                kind=EntryKind.CHARGE,
                amount=-plan.charged,
                movement_id=request.hold_id,
                created_at=now,
                reason="request",
                key_id=request.key_id,
            ),
        )
    final = record.replace(
        hold=request.amount,
        charge=plan.charged,
        shortfall=plan.shortfall,
        entry_ids=tuple(e.entry_id for e in entries),
    )
    return Movement(
        movement_id=request.hold_id,
        account_id=request.account_id,
        entries=entries,
        record=final,
        charge=plan.charged,
        shortfall=plan.shortfall,
    )


def build_credit_movement(
    account_id: str, amount: int, *, movement_id: str, reason: str, actor: str | None, now: int
) -> Movement:
    """A credit (amount > 0) or debit (amount < 0) with its one entry."""
    kind = EntryKind.CREDIT if amount >= 0 else EntryKind.DEBIT
    entry = LedgerEntry(
        account_id=account_id,
        entry_id=f"{movement_id}#{kind.value}",
        kind=kind,
        amount=amount,
        movement_id=movement_id,
        created_at=now,
        reason=reason,
        actor=actor,
    )
    return Movement(movement_id=movement_id, account_id=account_id, entries=(entry,), record=None)
