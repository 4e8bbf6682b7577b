"""Reserve → settle → history → close, as one small service every endpoint shares.

``reserve`` implements invariant 3: reserve the worst case the request allows; if the balance (or the
key's limit) cannot pay for it, learn what is available from the failed condition — no extra read —
and retry once with the output limit the money pays for, down to a minimal useful answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tollway.accounts.model import KeyStatus
from tollway.auth import KeyContext
from tollway.errors import AuthenticationFailed, InsufficientQuota, PermissionDenied, RateLimited, TollwayError
from tollway.guards import guard_use
from tollway.ledger.model import HoldRejected, HoldRequest, Movement, RejectReason, SettleDeferred
from tollway.ledger.ports import LedgerStore
from tollway.money import format_usd
from tollway.pricing.engine import OutputBudget
from tollway.records import UsageRecord

__all__ = ["Biller", "Reservation", "StaleKey"]

log = logging.getLogger(__name__)


class StaleKey(Exception):
    """The cached key no longer matches the store (its own limit or its guards changed): reload and retry."""


@dataclass(frozen=True, slots=True)
class Reservation:
    hold: HoldRequest
    output_limit: int | None  # the output limit the upstream must get (None: no output dimension)
    clamped: bool  # True when tollway lowered (or set) the limit to what the money pays for


def _status_error(reason: RejectReason) -> TollwayError | None:
    match reason:
        case RejectReason.ACCOUNT_DISABLED | RejectReason.ACCOUNT_MISSING:
            return PermissionDenied("This account is disabled.", code="account_disabled")
        case RejectReason.KEY_DISABLED:
            return PermissionDenied("This API key is disabled.", code="key_disabled")
        case RejectReason.KEY_EXPIRED:
            return PermissionDenied("This API key has expired.", code="key_expired")
        case RejectReason.KEY_MISSING | RejectReason.KEY_REVOKED:
            return AuthenticationFailed("Incorrect API key provided.")
    return None


def _rate_error(rejected: HoldRejected) -> RateLimited | None:
    after = str(rejected.retry_after_s or 1)
    if rejected.reason is RejectReason.RATE_LIMIT:
        return RateLimited(f"This API key's request-rate limit is reached; retry in {after} s.", retry_after=after)
    if rejected.reason is RejectReason.CONCURRENCY:
        return RateLimited(
            "This API key has as many requests in flight as its concurrency limit allows; retry when one ends.",
            retry_after=after,
        )
    return None


def _balance_hint(output_limit: int | None, min_output: int, clamped: bool) -> str:
    """What the customer can do about an insufficient balance, in the terms of their request.

    A request without an output dimension (an image, a task, audio by the minute) can only add credit.
    One with an output limit has already been clamped to what the balance affords, so lowering
    ``max_tokens`` would not help: the balance does not cover its input and the smallest answer tollway
    will start (``TOLLWAY_MIN_ANSWER_TOKENS``, larger for reasoning models, which think before answering).
    """
    if output_limit is None:
        return "Add credit."
    if not clamped:
        return "Add credit or lower the request's output limit (max_tokens)."
    return (
        f"Add credit: a request reserves its input and an answer of at least {min_output:,} output tokens "
        "(reasoning models need more room than others)."
    )


def _quota_error(
    rejected: HoldRejected, needed: int, context: KeyContext | None = None, hint: str = "Add credit."
) -> InsufficientQuota:
    guards = None if context is None else context.key.guards
    if rejected.reason is RejectReason.DAILY_CAP:
        cap = "" if guards is None or guards.daily_cap is None else f" of ${format_usd(guards.daily_cap)}"
        left = max(rejected.day_left or 0, 0)
        return InsufficientQuota(
            f"This API key's daily spend cap{cap} (per UTC day) is reached: ${format_usd(left)} left today, "
            f"and this request needs up to ${format_usd(needed)}."
        )
    if rejected.reason is RejectReason.MONTHLY_CAP:
        cap = "" if guards is None or guards.monthly_cap is None else f" of ${format_usd(guards.monthly_cap)}"
        left = max(rejected.month_left or 0, 0)
        return InsufficientQuota(
            f"This API key's monthly spend cap{cap} (per UTC month) is reached: ${format_usd(left)} left this "
            f"month, and this request needs up to ${format_usd(needed)}."
        )
    if rejected.reason is RejectReason.KEY_LIMIT:
        remaining = rejected.key_remaining or 0
        return InsufficientQuota(
            f"This API key's limit cannot pay for this request: it needs up to ${format_usd(needed)} "
            f"and the key has ${format_usd(remaining)} left."
        )
    balance = rejected.account_balance or 0
    return InsufficientQuota(
        f"Insufficient balance: this request needs up to ${format_usd(needed)} and the account has "
        f"${format_usd(balance)}. {hint}"
    )


class Biller:
    def __init__(self, ledger: LedgerStore) -> None:
        self._ledger = ledger

    def reserve(
        self,
        context: KeyContext,
        *,
        hold_id: str,
        budget: OutputBudget,
        output_limit: int | None,
        min_output: int,
        now_ms: int,
        endpoint: str = "",
        model: str | None = None,
        by_key_item: bool = False,
    ) -> Reservation:
        """Reserve the worst case of a request (blocking; call from a worker thread).

        ``by_key_item``: check the key item itself in the transaction instead of the account's
        ``key_rev`` (one item more, but immune to changes of the account's other keys).

        ``output_limit`` is the limit the request would run with (the client's, capped by the model's
        maximum), or None for requests without an output dimension (per-call prices).

        Raises:
            InsufficientQuota: not even a minimal answer is affordable.
            PermissionDenied, AuthenticationFailed: the account or key may not spend.
            StaleKey: the cached key is out of date.
        """
        limit = output_limit if output_limit is not None else 0
        amount = budget.hold_micros(limit)
        try:
            hold = self._try(context, hold_id, amount, now_ms, endpoint, model, by_key_item)
            return Reservation(hold=hold, output_limit=output_limit, clamped=False)
        except HoldRejected as rejected:
            self._raise_for_status(rejected)
            available = rejected.available
            if output_limit is None or available is None:
                hint = _balance_hint(output_limit, min_output, clamped=False)
                raise _quota_error(rejected, amount, context, hint) from rejected
            affordable = budget.affordable_output_tokens(available)
            if affordable < min_output:
                hint = _balance_hint(output_limit, min_output, clamped=True)
                raise _quota_error(rejected, budget.hold_micros(min_output), context, hint) from rejected
            clamped = min(affordable, output_limit)
            amount = budget.hold_micros(clamped)
        try:
            hold = self._try(context, hold_id, amount, now_ms, endpoint, model, by_key_item)
        except HoldRejected as again:
            self._raise_for_status(again)
            # Someone else spent meanwhile; one retry is the contract, then a clear 402.
            raise _quota_error(again, amount, context, _balance_hint(output_limit, min_output, True)) from again
        return Reservation(hold=hold, output_limit=clamped, clamped=True)

    def _try(
        self,
        context: KeyContext,
        hold_id: str,
        amount: int,
        now_ms: int,
        endpoint: str,
        model: str | None,
        by_key_item: bool = False,
    ) -> HoldRequest:
        key = context.key
        # The copy's own status and expiry: for an unlimited key without guards the reserve does not
        # read the key item, it only proves (key_rev) that this copy is still current.
        if key.status is KeyStatus.REVOKED:
            raise HoldRejected(RejectReason.KEY_REVOKED)
        if key.status is not KeyStatus.ACTIVE:
            raise HoldRejected(RejectReason.KEY_DISABLED)
        if key.expired(now_ms / 1000):
            raise HoldRejected(RejectReason.KEY_EXPIRED)
        hold = HoldRequest(
            endpoint=endpoint,
            model=model,
            hold_id=hold_id,
            account_id=context.account.account_id,
            key_hash=key.key_hash,
            key_id=key.key_id,
            key_limited=key.limited,
            amount=amount,
            created_at=now_ms,
            guards=guard_use(key.guards, now_ms),
            key_rev=None if by_key_item else context.account.key_rev,
        )
        return self._ledger.reserve(hold)

    @staticmethod
    def _raise_for_status(rejected: HoldRejected) -> None:
        if rejected.reason is RejectReason.KEY_KIND_CHANGED:
            raise StaleKey from rejected
        error = _status_error(rejected.reason) or _rate_error(rejected)
        if error is not None:
            raise error from rejected

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now_ms: int) -> Movement | None:
        """Settle at ``cost`` (blocking): the hold closed, the balance settled, the record (which is
        also the ledger debit) written — at once. :meth:`finish` on the movement is then a no-op.

        ``None`` also when the settle was deferred: the store kept failing, but the charge and record
        are stored on the hold and maintenance settles them (the served request is paid for).
        """
        try:
            return self._ledger.settle(hold, cost, record, now=now_ms)
        except SettleDeferred as deferred:
            log.warning("settle of %s deferred to maintenance (%d micro-USD)", deferred.hold_id, deferred.charge)
            return None

    def charged(self, hold: HoldRequest, movement: Movement | None) -> int:
        """What the request was charged, after :meth:`settle`: the movement's charge, or — no movement
        (settled and closed by maintenance meanwhile, or deferred to it) — what the ledger says. A task
        records this, so a refund never gives back money that was not taken."""
        return movement.charge if movement is not None else self._ledger.charged(hold)

    def finish(self, movement: Movement) -> None:
        """Write a settled movement's history and close it (blocking). A failure here is repaired by
        maintenance from the settled marker, so it is logged, not raised. A request's settle already
        did both in its one transaction (``movement.closed``): nothing to do."""
        if movement.closed:
            return
        try:
            self._ledger.write_history(movement)
            self._ledger.close(movement.movement_id)
        except Exception:
            log.exception("history of %s not written; maintenance will finish it", movement.movement_id)

    def record_refusal(self, record: UsageRecord) -> None:
        """The one record of a request refused before any hold (blocking)."""
        self._ledger.put_record(record)
