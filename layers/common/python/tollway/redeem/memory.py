"""Redemption codes in memory (the same contract as the DynamoDB store; one lock = one transaction)."""

from __future__ import annotations

import dataclasses
import json

from tollway.accounts.model import AccountStatus, KeyStatus
from tollway.ledger.model import Hold, HoldState
from tollway.ledger.settlement import build_credit_movement
from tollway.memory.backend import MemoryBackend
from tollway.redeem.model import Batch, Code, CodeStatus, Redemption, redeemer, refused
from tollway.redeem.ports import CodePage
from tollway.usage.query import decode_cursor, encode_cursor

__all__ = ["MemoryCodes"]


class MemoryCodes:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def create_batch(self, batch: Batch, codes: list[Code]) -> None:
        with self._b.lock:
            if ("redeem_batch", batch.batch_id) in self._b.config:
                raise ValueError(f"batch {batch.batch_id} exists")
            self._b.config[("redeem_batch", batch.batch_id)] = {"data": json.dumps(batch.to_json())}
            for code in codes:
                self._b.codes[code.code_hash] = code

    def get_batch(self, batch_id: str) -> Batch | None:
        with self._b.lock:
            item = self._b.config.get(("redeem_batch", batch_id))
        return None if item is None else Batch.from_json(json.loads(str(item["data"])))

    def list_batches(self) -> list[Batch]:
        with self._b.lock:
            items = [v for (k, _), v in sorted(self._b.config.items()) if k == "redeem_batch"]
        return [Batch.from_json(json.loads(str(v["data"]))) for v in items]

    def list_codes(self, batch_id: str, *, limit: int, cursor: str | None) -> CodePage:
        with self._b.lock:
            codes = sorted((c for c in self._b.codes.values() if c.batch_id == batch_id), key=lambda c: c.code_id)
        if cursor:
            after = str(decode_cursor(cursor).get("after", ""))
            codes = [c for c in codes if c.code_id > after]
        page = codes[:limit]
        more = len(codes) > limit and page
        return CodePage(page, encode_cursor({"after": page[-1].code_id}) if more else None)

    def disable(self, batch_id: str, code_id: str | None) -> int:
        changed = 0
        with self._b.lock:
            for code_hash, code in list(self._b.codes.items()):
                if code.batch_id != batch_id or (code_id is not None and code.code_id != code_id):
                    continue
                if code.status is CodeStatus.UNUSED:
                    self._b.codes[code_hash] = dataclasses.replace(code, status=CodeStatus.DISABLED)
                    changed += 1
        return changed

    def redeem(
        self, code_hash: str, *, account_id: str, key_hash: str | None, key_id: str | None, movement_id: str, now: int
    ) -> Redemption:
        b = self._b
        with b.lock:
            code = b.codes.get(code_hash)
            account = b.accounts.get(account_id)
            key = None if key_hash is None else b.keys.get(key_hash)
            if code is None:
                raise refused("invalid")
            if account is None or account.status is not AccountStatus.ACTIVE:
                raise refused("account_disabled")
            if key_hash is not None and (key is None or key.status is not KeyStatus.ACTIVE):
                raise refused("key_disabled")
            if key is not None and key.expired(now / 1000):
                raise refused("key_expired")
            if code.status is CodeStatus.USED:
                raise refused("used")
            if code.status is CodeStatus.DISABLED:
                raise refused("disabled")
            if code.expired(now / 1000):
                raise refused("expired")
            if code.group is not None and code.group != account.group:
                raise refused("group")
            movement = build_credit_movement(
                account_id,
                code.value,
                movement_id=movement_id,
                reason=_reason(code),
                actor=redeemer(account_id, key_id),
                now=now,
            )
            b.accounts[account_id] = dataclasses.replace(account, balance=account.balance + code.value)
            b.holds[movement_id] = Hold(
                hold_id=movement_id,
                account_id=account_id,
                state=HoldState.SETTLED,
                amount=0,
                created_at=now,
                kind="credit",
                settled_at=now,
                movement=movement,
            )
            used = dataclasses.replace(
                code,
                status=CodeStatus.USED,
                used_by=account_id,
                used_key=key_id or "console",
                used_at=now,
                movement_id=movement_id,
            )
            b.codes[code_hash] = used
            return Redemption(movement=movement, code=used)


def _reason(code: Code) -> str:
    return f"redeem {code.prefix} (batch {code.batch_id})"
