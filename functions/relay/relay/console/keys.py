"""The customer's keys: the ``key.*`` and ``mj.key-settings`` command functions, with the session's
account filled in and every key id owner-checked first (another account's key answers like a missing one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from tollway.accounts.model import ApiKey, KeyStatus
from tollway.admin.commands import keys as key_commands
from tollway.admin.commands import mj as mj_commands
from tollway.admin.registry import AdminContext
from tollway.errors import Conflict, NotFound

from relay.console.base import (
    ConsoleBase,
    json_response,
    parse_args,
)

__all__ = ["KeyViews"]

_MAX_KEYS = 50


class KeyViews(ConsoleBase):
    # ---- keys ------------------------------------------------------------------------------------
    async def list_keys(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        keys = await self._run(svc.accounts.list_keys, account.account_id)
        rows = [_key_row(k) for k in sorted(keys, key=lambda k: k.created_at, reverse=True)]
        return json_response({"object": "list", "data": [r for r in rows if r["status"] != KeyStatus.REVOKED.value]})

    async def create_key(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        data = await self._key_body(request)
        mj: dict[str, Any] = {k: data.pop(k) for k in ("mj_mode", "mj_image_mode") if k in data}
        args = parse_args(key_commands.CreateKey, {**data, "account_id": account.account_id})
        mj_args = parse_args(mj_commands.KeySettings, {"key_id": "pending", **_mj_changes(mj)}) if mj else None
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            live = [k for k in svc.accounts.list_keys(account.account_id) if k.status is not KeyStatus.REVOKED]
            if len(live) >= _MAX_KEYS:
                raise Conflict(f"An account may have at most {_MAX_KEYS} keys.", code="too_many_keys")
            # A command's refusal (a tree error) is answered as it is: 400, 404 or 409 in the OpenAI shape.
            created = key_commands.create_key(args, context)
            if mj_args is not None:
                mj_commands.key_settings(mj_args.model_copy(update={"key_id": created["key_id"]}), context)
            key = svc.accounts.get_key_by_id(str(created["key_id"]))
            if key is None:  # pragma: no cover - just created
                raise NotFound("No such key.", code="key_not_found")
            return {"key": created["key"], **_key_row(key)}

        return json_response(await self._run(run), status=201)

    async def update_key(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        key = await self._own_key(svc, account, request.path_params["key_id"])
        data = await self._key_body(request)
        mj: dict[str, Any] = {k: data.pop(k) for k in ("mj_mode", "mj_image_mode") if k in data}
        args = parse_args(key_commands.UpdateKey, {**data, "key_id": key.key_id})
        mj_args = parse_args(mj_commands.KeySettings, {"key_id": key.key_id, **_mj_changes(mj)}) if mj else None
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            key_commands.update_key(args, context)
            if mj_args is not None:
                mj_commands.key_settings(mj_args, context)
            fresh = svc.accounts.get_key_by_id(key.key_id)
            if fresh is None:  # pragma: no cover - owner-checked above
                raise NotFound("No such key.", code="key_not_found")
            return _key_row(fresh)

        return json_response(await self._run(run))

    async def _status(self, request: Request, command: Callable[[Any, AdminContext], dict[str, Any]]) -> Response:
        svc, _, account = await self._session(request, write=True)
        key = await self._own_key(svc, account, request.path_params["key_id"])
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            command(key_commands.KeyRef(key_id=key.key_id), context)
            fresh = svc.accounts.get_key_by_id(key.key_id)
            return {} if fresh is None else _key_row(fresh)

        return json_response(await self._run(run))

    async def disable_key(self, request: Request) -> Response:
        return await self._status(request, key_commands.disable_key)

    async def enable_key(self, request: Request) -> Response:
        return await self._status(request, key_commands.enable_key)

    async def delete_key(self, request: Request) -> Response:
        # Deleting revokes for good: the key stops working at once, its usage history stays.
        return await self._status(request, key_commands.revoke_key)


def _mj_changes(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "mj_mode" in data:
        out["mode"] = data["mj_mode"] or ""
    if "mj_image_mode" in data:
        out["image_mode"] = data["mj_image_mode"] or ""
    return out


def _key_row(key: ApiKey) -> dict[str, Any]:
    data = key.to_json()
    row = {
        name: data[name]
        for name in (
            "key_id",
            "name",
            "prefix",
            "status",
            "created_at",
            "remaining_usd",
            "expires_at",
            "models",
            "cidrs",
        )
    }
    row["guards"] = data["guards"]
    row["mj_mode"] = key.settings.get("mj_mode")
    row["mj_image_mode"] = key.settings.get("mj_image_mode")
    return row
