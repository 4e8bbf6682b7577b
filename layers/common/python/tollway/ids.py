"""Identifiers: time-sortable request ids, stable account and key ids.

Request ids are ULIDs (48-bit millisecond time + 80 random bits, Crockford base32) behind a
``req_`` prefix, so usage records and ledger entries keyed by them sort by time without an index.
"""

from __future__ import annotations

import secrets
import time

__all__ = ["account_id", "channel_id", "key_id", "movement_id", "request_id", "timestamp_ms_of"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_CROCKFORD)}


def _ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def request_id(now_ms: int | None = None) -> str:
    """A new request id, ``req_<ULID>``; lexicographic order is time order."""
    return "req_" + _ulid(now_ms)


def movement_id(now_ms: int | None = None) -> str:
    """An id for a balance movement that is not a request (credit, adjustment, redemption)."""
    return "mov_" + _ulid(now_ms)


def timestamp_ms_of(ident: str) -> int:
    """The millisecond timestamp inside a ``req_``/``mov_`` id."""
    body = ident.split("_", 1)[1]
    value = 0
    for char in body[:10]:
        value = (value << 5) | _DECODE[char]
    return value  # 26 chars carry 130 bits for 128: the first 10 chars are 2 zero bits + the 48-bit time


def _short(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_CROCKFORD) for _ in range(16)).lower()


def account_id() -> str:
    """A new stable account id, ``acct_…``."""
    return _short("acct_")


def key_id() -> str:
    """A new stable key id, ``key_…`` (survives rotation; records point at it, never at the hash)."""
    return _short("key_")


def channel_id() -> str:
    """A new channel id, ``ch_…``."""
    return _short("ch_")
