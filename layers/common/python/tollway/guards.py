"""Per-key guards: daily and monthly spend caps, requests per minute, concurrent requests.

All four are off by default and cost nothing when off: a key without guards stores none of the
attributes below, and its reserve write only gains the condition "the key still has no guards".

When on, they are enforced in the reserve's own conditional write on the key item — never by a read
followed by a write — with counters kept on the key item itself (the keys table is one of the small
hot tables every reserve already writes):

====================  ===============================================  ===========================
guard                 counters on the key item                         refused with
====================  ===============================================  ===========================
daily spend cap       ``day_period`` ("YYYY-MM-DD", UTC), ``day_left``    402, message names the cap
monthly spend cap     ``month_period`` ("YYYY-MM", UTC), ``month_left``   402, message names the cap
requests per minute   ``rpm_window`` (epoch minute), ``rpm_count``        429 + Retry-After
concurrent requests   ``inflight``                                        429 + Retry-After
====================  ===============================================  ===========================

DynamoDB conditions cannot add numbers, so a cap is kept as "what is left in this period" plus the
period it belongs to. A reserve either counts in the stored period (``day_left >= amount``) or, when
the stored period is older than the request's, starts a new one (``day_left = daily_cap - amount``).
Which of the two applies is not known without a read, so the first attempt assumes the stored
period is current; if the write is refused and the old item shows an older period, the second
attempt rolls it over (and a newer stored period — another process's clock a little ahead — is
adopted instead of being rolled back). :class:`Plan` is one such attempt.

Settle gives back the unused part of the hold to the caps only while the period is the one the
request counted in, and releases the concurrency lease in the same write that settles the hold, so a
lease is released exactly once: by the request, or by maintenance when the request's process died.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tollway.accounts.model import GuardState, KeyGuards
from tollway.ledger.model import GuardUse, HoldRejected, RejectReason

__all__ = [
    "CONCURRENCY_RETRY_AFTER_S",
    "Plan",
    "day_period",
    "first_plan",
    "guard_rejection",
    "guard_use",
    "minute_window",
    "month_period",
    "plan_from_state",
    "rate_retry_after_s",
]

# A concurrency slot frees when some request in flight ends, which cannot be predicted; a second is
# what clients (and the OpenAI SDKs' back-off) handle well.
CONCURRENCY_RETRY_AFTER_S = 1


def _utc(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC)


def day_period(now_ms: int) -> str:
    """The UTC day of ``now_ms`` ("2026-11-28"); ISO dates compare in time order as strings."""
    return _utc(now_ms).strftime("%Y-%m-%d")


def month_period(now_ms: int) -> str:
    """The UTC month of ``now_ms`` ("2026-11")."""
    return _utc(now_ms).strftime("%Y-%m")


def minute_window(now_ms: int) -> int:
    """The fixed one-minute window of ``now_ms`` (minutes since the epoch)."""
    return now_ms // 60_000


def rate_retry_after_s(now_ms: int) -> int:
    """Whole seconds until the next one-minute window opens (at least 1)."""
    return max(1, -(-(60_000 - now_ms % 60_000) // 1000))


def guard_use(guards: KeyGuards | None, now_ms: int) -> GuardUse | None:
    """What a request made at ``now_ms`` counts against a key's guards (None: the key has none)."""
    if guards is None:
        return None
    return GuardUse(
        rev=guards.rev,
        day=day_period(now_ms) if guards.daily_cap is not None else None,
        month=month_period(now_ms) if guards.monthly_cap is not None else None,
        minute=minute_window(now_ms) if guards.rpm is not None else None,
        lease=guards.concurrency is not None,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """One reserve attempt: for each counter, the period it counts in and whether it starts that period."""

    use: GuardUse
    day_roll: bool = False
    month_roll: bool = False
    minute_roll: bool = False


def first_plan(use: GuardUse) -> Plan:
    """The first attempt assumes every stored period is the request's own."""
    return Plan(use=use)


def _period(ours: str | None, stored: str | None) -> tuple[str | None, bool]:
    if ours is None:
        return None, False
    if stored is None or stored < ours:
        return ours, True  # an older (or no) period: start ours
    return stored, False  # ours, or a newer one another process started: count in it


def _window(ours: int | None, stored: int | None) -> tuple[int | None, bool]:
    if ours is None:
        return None, False
    if stored is None or stored < ours:
        return ours, True
    return stored, False


def plan_from_state(use: GuardUse, state: GuardState) -> Plan:
    """The attempt that fits the counters as stored (what a refused write revealed, or the memory store)."""
    day, day_roll = _period(use.day, state.day_period)
    month, month_roll = _period(use.month, state.month_period)
    minute, minute_roll = _window(use.minute, state.rpm_window)
    return Plan(
        use=replace(use, day=day, month=month, minute=minute),
        day_roll=day_roll,
        month_roll=month_roll,
        minute_roll=minute_roll,
    )


def guard_rejection(
    plan: Plan,
    guards: KeyGuards,
    state: GuardState,
    amount: int,
    now_ms: int,
    *,
    balance: int | None,
    remaining: int | None,
) -> HoldRejected | None:
    """Why a reserve that fits the stored periods (``plan``) is refused, or None if the guards allow it.

    Order: the rate guards first (429, worth a retry), then money in the order balance, the key's own
    limit, the daily cap, the monthly cap (402). ``balance``/``remaining`` are what the store knows.
    """
    use = plan.use
    if use.minute is not None and guards.rpm is not None and not plan.minute_roll:
        if (state.rpm_count or 0) >= guards.rpm:
            return HoldRejected(RejectReason.RATE_LIMIT, retry_after_s=rate_retry_after_s(now_ms))
    if use.lease and guards.concurrency is not None and (state.inflight or 0) >= guards.concurrency:
        return HoldRejected(RejectReason.CONCURRENCY, retry_after_s=CONCURRENCY_RETRY_AFTER_S)
    day_left = month_left = None
    if use.day is not None and guards.daily_cap is not None:
        day_left = guards.daily_cap if plan.day_roll else (state.day_left or 0)
    if use.month is not None and guards.monthly_cap is not None:
        month_left = guards.monthly_cap if plan.month_roll else (state.month_left or 0)
    money = {"account_balance": balance, "key_remaining": remaining, "day_left": day_left, "month_left": month_left}
    for reason, value in (
        (RejectReason.BALANCE, balance),
        (RejectReason.KEY_LIMIT, remaining),
        (RejectReason.DAILY_CAP, day_left),
        (RejectReason.MONTHLY_CAP, month_left),
    ):
        if value is not None and value < amount:
            return HoldRejected(reason, **money)
    return None
