"""Holds and settled markers as DynamoDB items (the holds table), and back.

A hold item is written open by the reserve and turned into a settled marker by the settle (or born
settled: credits, account creation, refunds); what a marker holds — entries, record, charge — is all
that maintenance needs to finish its history, so it is decoded here for the settle, sweep and audit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tollway.dynamo import AttrValue, B, N, S
from tollway.ledger.model import GuardUse, Hold, HoldRequest, HoldState, Movement
from tollway.records import UsageRecord

__all__ = ["ACTIVE", "OPEN", "SETTLED", "guard_attributes", "hold_item", "hold_of", "movement_of"]

ACTIVE = S("active")
OPEN = S(HoldState.OPEN.value)
SETTLED = S(HoldState.SETTLED.value)


def hold_item(request: HoldRequest) -> dict[str, AttrValue]:
    """The open hold a reserve puts."""
    return {
        "hold_id": S(request.hold_id),
        "account_id": S(request.account_id),
        "state": OPEN,
        "kind": S("request"),
        "amount": N(request.amount),
        "created_at": N(request.created_at),
        "key_hash": S(request.key_hash),
        "key_id": S(request.key_id),
        "key_limited": B(request.key_limited),
        "endpoint": S(request.endpoint),
        **({"model": S(request.model)} if request.model else {}),
        **guard_attributes(request.guards),
    }


def guard_attributes(use: GuardUse | None) -> dict[str, AttrValue]:
    """What a hold remembers of its guards, so settle (or maintenance) can undo exactly that."""
    if use is None:
        return {}
    item: dict[str, AttrValue] = {"g_rev": N(use.rev), "g_lease": B(use.lease)}
    if use.day is not None:
        item["g_day"] = S(use.day)
    if use.month is not None:
        item["g_month"] = S(use.month)
    return item


def _guards_of_hold(item: Mapping[str, Any]) -> GuardUse | None:
    if "g_rev" not in item:
        return None
    return GuardUse(
        rev=int(item["g_rev"]["N"]),
        day=item["g_day"]["S"] if "g_day" in item else None,
        month=item["g_month"]["S"] if "g_month" in item else None,
        lease=bool(item.get("g_lease", {}).get("BOOL", False)),
    )


def movement_of(item: Mapping[str, Any]) -> Movement | None:
    if item.get("state", {}).get("S") != HoldState.SETTLED.value or "entries" not in item:
        return None
    return Movement.from_parts(
        movement_id=item["hold_id"]["S"],
        account_id=item["account_id"]["S"],
        entries=item["entries"]["S"],
        record=item["record"]["S"] if "record" in item else None,
        charge=int(item.get("charge", {"N": "0"})["N"]),
        shortfall=int(item.get("shortfall", {"N": "0"})["N"]),
    )


def hold_of(item: Mapping[str, Any]) -> Hold:
    return Hold(
        hold_id=item["hold_id"]["S"],
        account_id=item["account_id"]["S"],
        state=HoldState(item["state"]["S"]),
        amount=int(item["amount"]["N"]),
        created_at=int(item["created_at"]["N"]),
        kind=item.get("kind", {}).get("S", "request"),
        key_hash=item.get("key_hash", {}).get("S"),
        key_id=item.get("key_id", {}).get("S"),
        key_limited=bool(item.get("key_limited", {}).get("BOOL", False)),
        settled_at=int(item["settled_at"]["N"]) if "settled_at" in item else None,
        movement=movement_of(item),
        endpoint=item.get("endpoint", {}).get("S", ""),
        model=item.get("model", {}).get("S"),
        guards=_guards_of_hold(item),
        due_charge=int(item["due_charge"]["N"]) if "due_charge" in item else None,
        due_record=UsageRecord.from_json(json.loads(item["due_record"]["S"])) if "due_record" in item else None,
    )
