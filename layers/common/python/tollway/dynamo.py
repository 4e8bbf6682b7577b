"""Small DynamoDB helpers: the low-level client, attribute values, and error classification.

The hot path uses the low-level client with hand-built attribute values: the resource layer and
``TypeSerializer`` cost CPU on every call and add nothing here.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tollway.bridge import pause
from tollway.errors import StoreUnavailable
from tollway.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "AttrValue",
    "B",
    "N",
    "S",
    "TransactionCancelled",
    "boto_config",
    "cancellation_reasons",
    "error_code",
    "idempotency_token",
    "make_client",
    "num",
    "opt_num",
    "opt_str",
    "retry_store",
    "transact",
]

AttrValue = dict[str, Any]
T = TypeVar("T")


def S(value: str) -> AttrValue:
    return {"S": value}


def N(value: int) -> AttrValue:
    return {"N": str(value)}


def B(value: bool) -> AttrValue:
    return {"BOOL": value}


def num(item: Mapping[str, AttrValue], name: str) -> int:
    return int(item[name]["N"])


def opt_num(item: Mapping[str, AttrValue], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def opt_str(item: Mapping[str, AttrValue], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def boto_config(settings: Settings, *, pool: int = 64) -> Config:
    """Client config: standard retries (writes are repeat-safe), short timeouts, a pool for threads."""
    return Config(
        region_name=settings.region,
        retries={"max_attempts": 4, "mode": "standard"},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=pool,
        tcp_keepalive=True,
        # Every request is built by tollway's own code (and covered by tests); botocore's client-side
        # validation costs ~10% of the relay's CPU per request and would add nothing.
        parameter_validation=False,
    )


def make_client(settings: Settings) -> DynamoDBClient:
    """A low-level DynamoDB client (the emulator's endpoint locally).

    With ``store_client = "wire"`` the hot-path operations go through :mod:`tollway.dynamo_wire`
    (same requests and answers, less CPU) and every other one through this boto3 client.
    """
    session = boto3.session.Session()
    client: DynamoDBClient = session.client(
        "dynamodb", endpoint_url=settings.aws_endpoint_url, config=boto_config(settings)
    )
    if settings.store_client == "wire":
        from tollway.dynamo_wire import WireClient

        return cast("DynamoDBClient", WireClient(client, session.get_credentials()))
    return client


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_reasons(exc: ClientError) -> list[dict[str, Any]]:
    reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
    return reasons


class TransactionCancelled(Exception):
    """A transaction's conditions failed; ``reasons`` are index-aligned with its items."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def failed(self, index: int) -> dict[str, Any] | None:
        """The old item (possibly empty) if item ``index`` failed its condition, else ``None``."""
        if index >= len(self.reasons):
            return None
        reason = self.reasons[index]
        if reason.get("Code") != "ConditionalCheckFailed":
            return None
        item: dict[str, Any] = reason.get("Item", {})
        return item


_RETRYABLE_CANCEL = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_RETRYABLE = {
    "TransactionConflictException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}


# The system source needs no seed, so environments restored from one SnapStart snapshot do not all
# draw the same jitter.
_random = random.SystemRandom()


def _jitter_sleep(attempt: int) -> None:
    # Full jitter: concurrent transactions on one balance spread out instead of colliding again. pause()
    # sleeps on the event loop when the ledger runs bridged on it (tollway.bridge), else in the thread.
    pause(_random.uniform(0, min(0.2, 0.01 * (2**attempt))))


def idempotency_token(movement_id: str, items: Sequence[Mapping[str, Any]]) -> str:
    """The ``ClientRequestToken`` of one money transaction: the movement's id and what it writes.

    DynamoDB answers a repeat of a token it saw in the last 10 minutes with the first call's success
    instead of applying it again (a retry after a lost response). The items are part of the token
    because one movement may send different transactions (a settle fitted to what a refusal showed):
    the same token with other parameters is refused (``IdempotentParameterMismatch``).
    """
    digest = hashlib.blake2b(movement_id.encode(), digest_size=18)  # 36 hex digits: the token's limit
    # orjson, keys sorted: the same items give the same bytes whatever order their dicts were built in
    # (json.dumps did the same at ~10× the CPU, twice per relayed request); binary values as base64.
    digest.update(orjson.dumps(items, option=orjson.OPT_SORT_KEYS, default=_base64))
    return digest.hexdigest()


def _base64(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode()
    raise TypeError(f"not an attribute value: {type(value).__name__}")


def transact(
    client: DynamoDBClient,
    items: Sequence[Mapping[str, Any]],
    *,
    attempts: int = 8,
    movement_id: str | None = None,
) -> None:
    """TransactWriteItems, retrying ``TransactionConflict`` and throttling with jitter.

    DynamoDB cancels concurrent transactions on one item with ``TransactionConflict``; that is never a
    reason to refuse a customer, so it is retried here. A money transaction names its ``movement_id``:
    every attempt then carries the same idempotency token (:func:`idempotency_token`). The token is the
    store's half of repeat safety; the caller's half is recognising its own landed write on a refused
    condition (the emulator and moto ignore the token, and it expires after 10 minutes).

    Raises:
        TransactionCancelled: a condition failed (the caller decides what it means).
        StoreUnavailable: the store kept failing.
    """
    request: dict[str, Any] = {"TransactItems": list(items)}
    if movement_id is not None:
        request["ClientRequestToken"] = idempotency_token(movement_id, items)
    for attempt in range(attempts):
        try:
            client.transact_write_items(**request)
            return
        except ClientError as exc:
            code = error_code(exc)
            if code == "TransactionCanceledException":
                reasons = cancellation_reasons(exc)
                if any(r.get("Code") in _RETRYABLE_CANCEL for r in reasons):
                    _jitter_sleep(attempt)
                    continue
                raise TransactionCancelled(reasons) from exc
            if code in _RETRYABLE:
                _jitter_sleep(attempt)
                continue
            raise StoreUnavailable("The billing store rejected the request.") from exc
        except BotoCoreError as exc:
            if attempt + 1 < attempts:
                _jitter_sleep(attempt)
                continue
            raise StoreUnavailable("The billing store is unreachable.") from exc
    raise StoreUnavailable("The billing store is busy; nothing was charged. Please retry.")


def retry_store(call: Callable[[], T], *, attempts: int = 5) -> T:
    """Run a single-item call, retrying throttling/5xx beyond botocore's own retries; map failures."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) in _RETRYABLE and attempt + 1 < attempts:
                _jitter_sleep(attempt)
                continue
            raise
        except BotoCoreError as exc:
            if attempt + 1 < attempts:
                _jitter_sleep(attempt)
                continue
            raise StoreUnavailable("The billing store is unreachable.") from exc
    raise StoreUnavailable("The billing store is busy.")  # pragma: no cover - loop always returns or raises
