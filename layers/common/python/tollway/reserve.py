"""The one reserve every billable call runs (relay pipeline, task submits): a request's worst case held
under the freshest copy of its key."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tollway.auth import KeyContext, load_context
from tollway.billing import Reservation, StaleKey
from tollway.bridge import pause
from tollway.errors import AuthenticationFailed, StoreUnavailable

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
    read again and the reserve repeated with them, until it is decided (held, or refused for a reason
    the customer can act on); after two rereads it checks the key item itself rather than the account's
    key_rev, so changes to the account's other keys cannot keep it stale. The key's own limit or guards
    changing faster than that gets a bounded number of rereads with jitter; past it the answer is a
    clear 503 and nothing is held — never a 500.
    """

    def attempt(ctx: KeyContext, by_key_item: bool) -> Reservation:
        return svc.biller.reserve(
            ctx,
            hold_id=hold_id,
            budget=budget,
            output_limit=output_limit,
            min_output=min_output,
            now_ms=now_ms,
            endpoint=endpoint,
            model=model,
            by_key_item=by_key_item,
        )

    current = context
    for reread in range(_REREADS):
        try:
            # From the second reread on, the key item itself is checked instead of the account's key_rev,
            # which every change of any key of the account moves (an operator script renaming keys
            # would otherwise keep every fresh copy stale).
            return attempt(current, reread >= 2), current
        except StaleKey:
            svc.keys.forget(context.key.key_hash)
            if reread:
                pause(_jitter.uniform(0, min(0.1, 0.005 * 2**reread)))  # on the loop when bridged
            fresh = load_context(svc.accounts, context.key.key_hash, context.account.account_id)
            if fresh is None:
                raise AuthenticationFailed("Incorrect API key provided.") from None
            current = fresh
    raise StoreUnavailable("This API key's account kept changing while the request was reserved; nothing was charged.")


_REREADS = 8
# The system source: environments restored from one snapshot do not all draw the same jitter.
_jitter = random.SystemRandom()
