"""redeem.* — redemption codes. A batch's codes are shown once, at creation; customers redeem a code
with their own key at ``POST /api/redeem`` (the account is credited through the ledger; a code works
exactly once, however many requests race for it)."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field

from tollway.admin.commands._common import Usd, micros_of, not_found, require_group, usd
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import Conflict, InvalidArguments
from tollway.operator import operator_stores
from tollway.redeem.model import Batch, Code, CodeStatus, code_prefix, generate_code, hash_code

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _short(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class CreateBatch(Args):
    value_usd: Usd = Field(description="What each code credits.")
    count: int = Field(ge=1, le=1000)
    name: str = Field(default="", max_length=200)
    expires_at: int | None = Field(default=None, gt=0, description="Expiry, epoch seconds.")
    group: str | None = Field(default=None, description="Only accounts of this group may redeem.")


@REGISTRY.command("redeem.create", CreateBatch, summary="Create a batch of redemption codes (shown once).")
def create_batch(args: CreateBatch, context: AdminContext) -> dict[str, Any]:
    value = micros_of(args.value_usd)
    if value <= 0:
        raise InvalidArguments("value_usd must be more than zero.")
    if args.group is not None:
        require_group(context, args.group)
    now = context.clock_ms()
    batch = Batch(
        batch_id=_short("rb_"),
        name=args.name,
        value=value,
        count=args.count,
        created_at=now,
        created_by=context.actor,
        expires_at=args.expires_at,
        group=args.group,
    )
    plain = [generate_code() for _ in range(args.count)]
    codes = [
        Code(
            code_hash=hash_code(p),
            code_id=f"rc_{n:04d}_{secrets.token_hex(3)}",
            batch_id=batch.batch_id,
            prefix=code_prefix(p),
            value=value,
            status=CodeStatus.UNUSED,
            created_at=now,
            expires_at=args.expires_at,
            group=args.group,
        )
        for n, p in enumerate(plain, start=1)
    ]
    try:
        operator_stores(context.services).codes.create_batch(batch, codes)
    except ValueError as exc:
        raise Conflict("Batch id collision; try again.") from exc
    return {**batch.to_json(), "codes": plain}


class ListCodes(Args):
    batch_id: str | None = Field(default=None, description="A batch's codes; omit to list the batches.")
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


@REGISTRY.command("redeem.list", ListCodes, mutating=False, summary="List batches, or one batch's codes.")
def list_codes(args: ListCodes, context: AdminContext) -> dict[str, Any]:
    store = operator_stores(context.services).codes
    if args.batch_id is None:
        batches = sorted(store.list_batches(), key=lambda b: b.created_at, reverse=True)
        return {"batches": [b.to_json() for b in batches]}
    batch = store.get_batch(args.batch_id)
    if batch is None:
        raise not_found("batch", args.batch_id)
    try:
        page = store.list_codes(args.batch_id, limit=args.limit, cursor=args.cursor)
    except ValueError as exc:
        raise InvalidArguments(str(exc)) from exc
    counts: dict[str, int] = {}
    if args.cursor is None and page.next_cursor is None:
        for code in page.codes:
            counts[code.status.value] = counts.get(code.status.value, 0) + 1
    return {
        "batch": batch.to_json(),
        "counts": counts or None,
        "codes": [c.to_json() for c in page.codes],
        "next_cursor": page.next_cursor,
    }


class DisableCodes(Args):
    batch_id: str = Field(min_length=1)
    code_id: str | None = Field(default=None, description="One code; omit to disable every unused code.")


@REGISTRY.command("redeem.disable", DisableCodes, summary="Disable a batch's unused codes (or one of them).")
def disable_codes(args: DisableCodes, context: AdminContext) -> dict[str, Any]:
    store = operator_stores(context.services).codes
    batch = store.get_batch(args.batch_id)
    if batch is None:
        raise not_found("batch", args.batch_id)
    changed = store.disable(args.batch_id, args.code_id)
    if args.code_id is not None and changed == 0:
        raise Conflict(f"Code {args.code_id} is not an unused code of batch {args.batch_id}.")
    return {"batch_id": args.batch_id, "disabled": changed, "value_usd": usd(batch.value)}
