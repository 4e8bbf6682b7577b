"""Customer keys: generation, format check, hashing.

A key looks like OpenAI's: ``sk-`` + 48 base62 characters, the last 6 of which are a CRC32 checksum
of the first 42, so typos and garbage are refused without touching the store. Only the SHA-256 of
the whole key is stored; the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

__all__ = ["KEY_PREFIX", "display_prefix", "generate_key", "hash_key", "is_well_formed"]

KEY_PREFIX = "sk-"
_ALPHABET = string.digits + string.ascii_letters  # base62
_BODY = 42
_CHECK = 6


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK)


def generate_key() -> str:
    """A new customer key (≈250 bits of randomness)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY))
    return KEY_PREFIX + body + _checksum(body)


def is_well_formed(key: str) -> bool:
    """True if the key has tollway's shape and a valid checksum (no store access)."""
    if not key.startswith(KEY_PREFIX) or len(key) != len(KEY_PREFIX) + _BODY + _CHECK:
        return False
    rest = key[len(KEY_PREFIX) :]
    if any(c not in _ALPHABET for c in rest):
        return False
    return secrets.compare_digest(_checksum(rest[:_BODY]), rest[_BODY:])


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole key: the only form in which keys are stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """What listings show: ``sk-AbCd12…wxyz`` (never enough to use the key)."""
    return f"{key[:9]}…{key[-4:]}"
