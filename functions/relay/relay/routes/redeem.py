"""``POST /api/redeem`` — a customer redeems a code with their own key; the account is credited.

Body: ``{"code": "rdm-…"}`` (``"key"`` is accepted too, the name one-api uses). The credit is a ledger
entry like any other, written by the same transaction that marks the code used, so a code credits
exactly once however many requests race for it (``tollway/redeem/dynamodb.py``). Not a billable
endpoint: no usage record. Refusals are the tree's ``RedeemRefused`` classes, answered in the OpenAI
error shape by ``relay.errors``.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.errors import InvalidRequest
from tollway.ids import movement_id
from tollway.money import format_usd
from tollway.redeem.model import hash_code, is_well_formed, refused

from relay.asgi import read_body
from relay.pipeline import Pipeline

__all__ = ["redeem_code", "redeem_routes"]

_MAX_BODY = 4096


async def redeem_code(
    pipeline: Pipeline, code: str, *, account_id: str, key_hash: str | None, key_id: str | None
) -> dict[str, object]:
    """Redeem ``code`` for the account (with a key, or from the console without one); the answer body.

    Raises:
        RedeemRefused: the code is malformed or cannot be redeemed by this caller (the tree's class
            says the status: 400, 403 or 409).
    """
    code = code.strip()
    if not is_well_formed(code):
        raise refused("invalid")
    svc = await pipeline.services()
    now = svc.clock_ms()

    def run() -> dict[str, object]:
        from tollway.operator import operator_stores  # not on the import path of every cold start

        redemption = operator_stores(svc).codes.redeem(
            hash_code(code),
            account_id=account_id,
            key_hash=key_hash,
            key_id=key_id,
            movement_id=movement_id(now),
            now=now,
        )
        svc.biller.finish(redemption.movement)  # the ledger entry, then the marker is closed
        balance = svc.ledger.balance(account_id) or 0
        return {
            "object": "redemption",
            "code": redemption.code.prefix,
            "credited": redemption.code.value,
            "credited_usd": format_usd(redemption.code.value),
            "balance": balance,
            "balance_usd": format_usd(balance),
            "entry_id": redemption.movement.entries[0].entry_id,
        }

    return await pipeline.blocking(run)


def redeem_routes(pipeline: Pipeline) -> list[BaseRoute]:
    async def redeem(request: Request) -> Response:
        svc = await pipeline.services()
        context = await pipeline.authenticate(request, svc)
        raw = await read_body(request, _MAX_BODY)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from exc
        code = data.get("code", data.get("key")) if isinstance(data, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise InvalidRequest('Send the code as {"code": "rdm-…"}.', param="code")
        body = await redeem_code(
            pipeline,
            code,
            account_id=context.account.account_id,
            key_hash=context.key.key_hash,
            key_id=context.key.key_id,
        )
        return Response(orjson.dumps(body), media_type="application/json")

    return [Route("/api/redeem", redeem, methods=["POST"])]
