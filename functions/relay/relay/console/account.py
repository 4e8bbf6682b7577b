"""What a signed-in customer reads: balance and totals, usage rows and CSV, credit history, prices; and
redemption. The same records, arithmetic and transaction as the key-authenticated views:
``public_record``, ``tollway.usage.totals.spend``, ``tollway.exports.write_usage_csv``, ``redeem_code``,
and the price list of ``GET /api/pricing`` (``relay.price_list``: markups and group ratio included).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from tollway.accounts.model import Account, ApiKey
from tollway.errors import (
    InvalidRequest,
    NotFound,
)
from tollway.exports import CUSTOMER_COLUMNS, write_usage_csv
from tollway.money import format_usd
from tollway.records import UsageRecord
from tollway.services import Services
from tollway.usage.query import UsageFilter
from tollway.usage.totals import spend

from relay.console.base import (
    ConsoleBase,
    display,
    json_response,
    text_field,
)
from relay.console.web import SECURITY_HEADERS
from relay.price_list import mj_price_list, price_list
from relay.routes.customer import _time_ms, public_record
from relay.routes.redeem import redeem_code

__all__ = ["AccountViews"]

_CSV_MAX_ROWS = 10_000
_DASHBOARD_MAX_RECORDS = 20_000  # records a dashboard total reads at most (then "complete": false)


class AccountViews(ConsoleBase):
    # ---- the signed-in customer ------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        svc, session, account = await self._session(request, write=False)
        store = self._store(svc)
        email = await self._run(store.email_of, account.account_id)
        options = await self._options(svc)
        return json_response(
            {
                "account_id": account.account_id,
                "email": email,
                "group": account.group,
                "balance": account.balance,
                "balance_usd": format_usd(account.balance),
                "display": display(options, account.balance),
                "csrf": self._signer_of(svc).csrf(session),
                "session_expires_at": session.expires_s,
            }
        )

    async def dashboard(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        now = datetime.now(tz=UTC)
        midnight = int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() * 1000)
        month = int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp() * 1000)
        # A page load reads at most this many records per total (an account with more sees "complete": false).
        limit = min(svc.settings.usage_sum_max_records, _DASHBOARD_MAX_RECORDS)
        mine = UsageFilter(account_id=account.account_id)

        def read() -> dict[str, Any]:
            today = spend(svc.usage, UsageFilter(account_id=account.account_id, start_ms=midnight), max_records=limit)
            this_month = spend(svc.usage, UsageFilter(account_id=account.account_id, start_ms=month), max_records=limit)
            recent = svc.usage.query(UsageFilter(account_id=mine.account_id, limit=10))
            return {
                "spend_today_usd": format_usd(today.total),
                "spend_month_usd": format_usd(this_month.total),
                "requests_today": today.records,
                "complete": today.complete and this_month.complete,
                "recent": [public_record(r) for r in recent.records],
            }

        body = await self._run(read)
        options = await self._options(svc)
        body.update(
            balance=account.balance, balance_usd=format_usd(account.balance), display=display(options, account.balance)
        )
        return json_response(body)

    # ---- usage -----------------------------------------------------------------------------------
    async def _usage_filter(self, request: Request, svc: Services, account: Account, limit: int) -> UsageFilter:
        params = request.query_params
        key_id = params.get("key_id") or None
        if key_id is not None:
            await self._own_key_any(svc, account, key_id)
        model = params.get("model") or None
        if model is not None and len(model) > 200:
            raise InvalidRequest("'model' is too long.", param="model")
        return UsageFilter(
            account_id=account.account_id,
            key_id=key_id,
            start_ms=_time_ms(params.get("start"), "start"),
            end_ms=_time_ms(params.get("end"), "end"),
            model=model,
            limit=limit,
            cursor=params.get("cursor") or None,
        )

    async def _own_key_any(self, svc: Services, account: Account, key_id: str) -> ApiKey:
        """Like ``_own_key`` but a revoked (deleted) key's history may still be read."""
        key = await self._run(svc.accounts.get_key_by_id, key_id)
        if key is None or key.account_id != account.account_id:
            raise NotFound("No such key.", code="key_not_found")
        return key

    async def usage(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        wanted = request.query_params.get("request_id")
        if wanted:
            record = await self._run(svc.usage.get, account.account_id, wanted[:100])
            found = record is not None and record.account_id == account.account_id
            rows = [public_record(record)] if found and record is not None else []
            return json_response({"object": "list", "data": rows, "next_cursor": None, "has_more": False})
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise InvalidRequest("'limit' must be between 1 and 100.", param="limit")
        flt = await self._usage_filter(request, svc, account, int(limit))
        try:
            page = await self._run(svc.usage.query, flt)
        except ValueError as exc:
            raise InvalidRequest("'cursor' is not valid.", param="cursor") from exc
        rows = [public_record(r) for r in page.records]
        return json_response(
            {"object": "list", "data": rows, "next_cursor": page.next_cursor, "has_more": bool(page.next_cursor)}
        )

    async def usage_csv(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        flt = await self._usage_filter(request, svc, account, 1000)

        def build() -> bytes:
            records: list[UsageRecord] = []
            cursor = None
            while len(records) < _CSV_MAX_ROWS:
                try:
                    page = svc.usage.query(UsageFilter(**{**flt.__dict__, "cursor": cursor}))
                except ValueError as exc:
                    raise InvalidRequest("'cursor' is not valid.", param="cursor") from exc
                records.extend(page.records)
                cursor = page.next_cursor
                if cursor is None:
                    break
            out = io.StringIO()
            write_usage_csv(records[:_CSV_MAX_ROWS], out, CUSTOMER_COLUMNS)
            return out.getvalue().encode()

        body = await self._run(build)
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
        headers = {
            **SECURITY_HEADERS,
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="usage-{stamp}.csv"',
        }
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)

    # ---- money in --------------------------------------------------------------------------------
    async def credits(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        entries = await self._run(lambda: svc.ledger.credits(account.account_id, limit=50, max_read=5000))
        rows = [
            {
                "entry_id": e.entry_id,
                "time": datetime.fromtimestamp(e.created_at / 1000, tz=UTC).isoformat(timespec="seconds"),
                "kind": e.kind.value,
                "amount_usd": format_usd(e.amount),
                "reason": _credit_reason(e.reason),
            }
            for e in entries
        ]
        return json_response({"object": "list", "data": rows})

    async def redeem(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        data = await self._body(request)
        code = text_field(data, "code", max_len=100) or ""
        store = self._store(svc)
        await self._limit(store, "redeem-account", account.account_id)
        await self._limit(store, "redeem-ip", self._client_ip(request))
        body = await redeem_code(self.pipeline, code, account_id=account.account_id, key_hash=None, key_id=None)
        return json_response(body)

    # ---- prices ----------------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        catalog = await self.pipeline.catalog(svc)
        # Exactly what /api/pricing shows a key of this account's group (a session has no model limit).
        body = price_list(catalog, account.group)
        body["midjourney"] = mj_price_list(catalog, account.group)
        return json_response(body)


def _credit_reason(reason: str) -> str:
    """A ledger reason as the customer sees it (an operator's adjustment keeps its stated reason)."""
    if reason == "signup":
        return "signup"
    if reason.startswith("redeem "):
        return reason.split(" (batch", 1)[0]
    return reason
