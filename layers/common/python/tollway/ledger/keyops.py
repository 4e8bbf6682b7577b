"""The key item's part of the reserve and settle transactions (own limit and guards), on DynamoDB.

Kept apart from ``dynamodb.py`` because the guards make this the densest expression-building in the
ledger. Every condition is commented where it is added; ``tollway/guards.py`` explains the counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway.accounts.model import GuardState, KeyGuards
from tollway.dynamo import AttrValue, N, S
from tollway.guards import Plan
from tollway.ledger.model import HoldRequest

__all__ = ["Expression", "guards_of_item", "reserve_key_op", "settle_key_op", "state_of_item"]

_ACTIVE = S("active")


@dataclass
class Expression:
    """An update/condition expression built part by part (only the values used are sent)."""

    conditions: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, AttrValue] = field(default_factory=dict)

    def update_expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        return " ".join(parts)

    def condition(self) -> str:
        return " AND ".join(self.conditions)

    def op(self, table: str, key: dict[str, AttrValue]) -> dict[str, Any]:
        """An ``Update`` item, or a ``ConditionCheck`` when nothing is written."""
        body: dict[str, Any] = {
            "TableName": table,
            "Key": key,
            "ConditionExpression": self.condition(),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self.names:
            body["ExpressionAttributeNames"] = self.names
        if self.values:
            body["ExpressionAttributeValues"] = self.values
        if not self.sets and not self.adds:
            return {"ConditionCheck": body}
        body["UpdateExpression"] = self.update_expression()
        return {"Update": body}


def reserve_key_op(table: str, request: HoldRequest, plan: Plan | None, now_s: int) -> dict[str, Any]:
    """The key item's part of a reserve: status, expiry, own limit and guards, in one conditional write."""
    e = Expression(names={"#st": "status"}, values={":active": _ACTIVE, ":now": N(now_s)})
    # key active AND not expired (also enforced here so a warm cache never lets a stale key through)
    e.conditions.append("#st = :active AND (attribute_not_exists(expires_at) OR expires_at > :now)")
    amount = N(request.amount)
    if request.key_limited:
        # ... AND the key's own limit covers the worst case
        e.values[":amt"] = amount
        e.conditions.append("remaining >= :amt")
        e.sets.append("remaining = remaining - :amt")
    else:
        # ... AND still unlimited (a limit added since the key was cached must be enforced)
        e.conditions.append("attribute_not_exists(remaining)")
    if plan is None:
        # ... AND still without guards (guards added since the key was cached must be enforced)
        e.conditions.append("attribute_not_exists(guard_rev)")
        return e.op(table, {"key_hash": S(request.key_hash)})
    use = plan.use
    # ... AND the guards are the ones this process knows (any change bumps guard_rev: reload the key)
    e.values[":grev"] = N(use.rev)
    e.conditions.append("guard_rev = :grev")
    if use.day is not None:
        e.values[":amt"] = amount
        e.values[":day"] = S(use.day)
        if plan.day_roll:
            # a new day: the stored day is older (or absent) AND the whole cap covers the worst case
            e.conditions.append("(attribute_not_exists(day_period) OR day_period < :day) AND daily_cap >= :amt")
            e.sets.append("day_period = :day, day_left = daily_cap - :amt")
        else:
            # the same day: what is left of today's cap covers the worst case
            e.conditions.append("day_period = :day AND day_left >= :amt")
            e.sets.append("day_left = day_left - :amt")
    if use.month is not None:
        e.values[":amt"] = amount
        e.values[":month"] = S(use.month)
        if plan.month_roll:
            # a new month: the stored month is older (or absent) AND the whole cap covers the worst case
            e.conditions.append("(attribute_not_exists(month_period) OR month_period < :month) AND monthly_cap >= :amt")
            e.sets.append("month_period = :month, month_left = monthly_cap - :amt")
        else:
            # the same month: what is left of this month's cap covers the worst case
            e.conditions.append("month_period = :month AND month_left >= :amt")
            e.sets.append("month_left = month_left - :amt")
    if use.minute is not None:
        e.values[":win"] = N(use.minute)
        e.values[":one"] = N(1)
        if plan.minute_roll:
            # a new minute window (the limit is at least 1, so the first request always fits)
            e.conditions.append("(attribute_not_exists(rpm_window) OR rpm_window < :win)")
            e.sets.append("rpm_window = :win, rpm_count = :one")
        else:
            # the same window: fewer requests so far than the key's per-minute limit
            e.conditions.append("rpm_window = :win AND rpm_count < rpm_limit")
            e.sets.append("rpm_count = rpm_count + :one")
    if use.lease:
        e.values[":one"] = N(1)
        e.values[":zero"] = N(0)
        # a free concurrency slot: fewer requests in flight than the key's limit
        e.conditions.append("(attribute_not_exists(inflight) OR inflight < concurrency)")
        e.sets.append("inflight = if_not_exists(inflight, :zero) + :one")
    return e.op(table, {"key_hash": S(request.key_hash)})


def settle_key_op(table: str, request: HoldRequest, delta: int, take_excess: int) -> dict[str, Any] | None:
    """The key item's part of a settle, or None when the key has nothing to give back or release.

    Every part's condition implies that the item exists, so ADD never creates a key that was removed
    (rotated) meanwhile; the caller drops the parts the refused write shows no longer apply.
    """
    e = Expression()
    use = request.guards
    if delta:
        e.values[":delta"] = N(delta)
        if request.key_limited:
            # the key still has a limit (ADD on a missing attribute would silently create one)
            e.conditions.append("attribute_exists(remaining)")
            e.adds.append("remaining :delta")
            if take_excess:
                # an overrun takes only what the key's limit holds: never below zero
                e.values[":take"] = N(take_excess)
                e.conditions.append("remaining >= :take")
        if use is not None and use.day is not None:
            # give back to today's cap only while it is still the day the request counted in
            e.values[":gday"] = S(use.day)
            e.conditions.append("day_period = :gday")
            e.adds.append("day_left :delta")
        if use is not None and use.month is not None:
            # ... and to this month's cap only within the same month
            e.values[":gmonth"] = S(use.month)
            e.conditions.append("month_period = :gmonth")
            e.adds.append("month_left :delta")
    if use is not None and use.lease:
        # release the concurrency lease, never below zero
        e.values[":one"] = N(1)
        e.values[":minus"] = N(-1)
        e.conditions.append("inflight >= :one")
        e.adds.append("inflight :minus")
    if not e.adds:
        return None
    return e.op(table, {"key_hash": S(request.key_hash)})


def guards_of_item(item: Mapping[str, Any]) -> KeyGuards | None:
    """A key item's guards (None when it has none)."""
    if "guard_rev" not in item:
        return None
    return KeyGuards(
        rev=int(item["guard_rev"]["N"]),
        daily_cap=_opt_int(item, "daily_cap"),
        monthly_cap=_opt_int(item, "monthly_cap"),
        rpm=_opt_int(item, "rpm_limit"),
        concurrency=_opt_int(item, "concurrency"),
    )


def state_of_item(item: Mapping[str, Any]) -> GuardState:
    """A key item's guard counters."""
    return GuardState(
        day_period=item["day_period"]["S"] if "day_period" in item else None,
        day_left=_opt_int(item, "day_left"),
        month_period=item["month_period"]["S"] if "month_period" in item else None,
        month_left=_opt_int(item, "month_left"),
        rpm_window=_opt_int(item, "rpm_window"),
        rpm_count=_opt_int(item, "rpm_count"),
        inflight=_opt_int(item, "inflight"),
    )


def _opt_int(item: Mapping[str, Any], name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None
