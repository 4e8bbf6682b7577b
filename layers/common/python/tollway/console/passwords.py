"""Console passwords: argon2id (argon2-cffi), never stored or logged in plain text.

argon2-cffi is imported on first use, so the relay's cold start does not pay for it. A sign-in for an
address with no login still verifies against a dummy hash, so both answers take the same time.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from tollway.errors import InvalidRequest

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "Passwords", "check_password_rules"]

MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 hashes any length; the cap keeps a request from buying minutes of CPU


def _weak(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="password", code="weak_password")


def check_password_rules(password: str, email: str) -> None:
    """Raises InvalidRequest (``weak_password``; the message says which rule) for a password that breaks one."""
    if len(password) < MIN_PASSWORD:
        raise _weak(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise _weak(f"The password must have at most {MAX_PASSWORD} characters.")
    if password.strip().lower() == email.strip().lower():
        raise _weak("The password must not be the e-mail address.")


class Passwords:
    """Hash and verify with one set of argon2id parameters (RFC 9106's second recommendation by default)."""

    def __init__(self, *, memory_kib: int = 65536, time_cost: int = 3, parallelism: int = 4) -> None:
        self._params = (memory_kib, time_cost, parallelism)
        self._lock = threading.Lock()
        self._hasher: PasswordHasher | None = None
        self._dummy: str | None = None

    def _get(self) -> PasswordHasher:
        if self._hasher is None:
            with self._lock:
                if self._hasher is None:
                    from argon2 import PasswordHasher, Type

                    memory, time_cost, parallelism = self._params
                    self._hasher = PasswordHasher(
                        time_cost=time_cost, memory_cost=memory, parallelism=parallelism, type=Type.ID
                    )
        return self._hasher

    def hash(self, password: str) -> str:
        return self._get().hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; with ``stored`` None, spends the same time and is False."""
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = self._get()
        if stored is None:
            if self._dummy is None:
                self._dummy = hasher.hash("tollway dummy password")
            stored, password = self._dummy, password + "\x00never"
            try:
                hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                pass
            return False
        try:
            return hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._get().check_needs_rehash(stored)


@functools.cache
def passwords_for(memory_kib: int, time_cost: int) -> Passwords:
    return Passwords(memory_kib=memory_kib, time_cost=time_cost)
