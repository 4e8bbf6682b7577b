"""The one reserve every billable call runs (relay pipeline, task submits): a request's worst case held
under the freshest copy of its key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway.auth import KeyContext, load_context
from tollway.billing import Reservation, StaleKey
from tollway.errors import AuthenticationFailed

if TYPE_CHECKING:
    from tollway.pricing.engine import OutputBudget
    from tollway.services import Services

__all__ = ["reserve_fresh"]


def reserve_fresh(
    svc: Services,
    context: KeyContext,
    *,
    hold_id: str,
    budget: OutputBudget,
    output_limit: int | None,
    min_output: int,
    now_ms: int,
    endpoint: str,
    model: str | None,
) -> tuple[Reservation, KeyContext]:
    """Reserve a request's worst case (blocking), and the key context it was reserved under.

    A copy that is no longer current fails the reserve's condition (``StaleKey``: the key's limit or
    guards changed, or — for an unlimited key — any key of its account did): the account and key are
    read again, once, and the reserve repeated with them.
    """

    def attempt(ctx: KeyContext) -> Reservation:
        return svc.biller.reserve(
            ctx,
            hold_id=hold_id,
            budget=budget,
            output_limit=output_limit,
            min_output=min_output,
            now_ms=now_ms,
            endpoint=endpoint,
            model=model,
        )

    try:
        return attempt(context), context
    except StaleKey:
        svc.keys.forget(context.key.key_hash)
        fresh = load_context(svc.accounts, context.key.key_hash, context.account.account_id)
        if fresh is None:
            raise AuthenticationFailed("Incorrect API key provided.") from None
        return attempt(fresh), fresh
