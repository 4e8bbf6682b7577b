"""Signatures of the Midjourney relay, all derived from one master secret.

The master secret lives in Secrets Manager as ``<secrets_prefix>mj/signing-key`` (the emulator
locally), created on first use. Purpose-bound keys are derived from it with HMAC, so one secret serves:

- the per-task callback capability: ``/mj/callback/<task id>?sig=<HMAC(task id)>`` — only the upstream
  that was given the URL can call it, and a signature is good for its own task only;
- signed image links: ``/mj/image/<task id>?exp=<unix s>&sig=<HMAC(task id, exp)>``;
- each account's webhook secret (``whsec_…``), which the customer fetches with their key and uses to
  verify ``X-Tollway-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` (Stripe's
  scheme; receivers should refuse a timestamp more than 5 minutes off).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable

__all__ = ["SIGNATURE_HEADER", "SigningKeys", "sign_payload", "verify_payload"]

SIGNATURE_HEADER = "X-Tollway-Signature"
DEFAULT_TOLERANCE_S = 300


def _mac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class SigningKeys:
    """Derived keys; the master secret is read (or created) on first use and kept in memory."""

    def __init__(self, master: Callable[[], str]) -> None:
        self._master_source = master
        self._master: bytes | None = None
        self._lock = threading.Lock()

    def _key(self, purpose: str) -> bytes:
        if self._master is None:
            with self._lock:
                if self._master is None:
                    self._master = self._master_source().encode()
        return _mac(self._master, f"tollway-mj/{purpose}")

    def callback_signature(self, task_id: str) -> str:
        return _mac(self._key("callback"), task_id).hex()

    def verify_callback(self, task_id: str, signature: str) -> bool:
        return hmac.compare_digest(self.callback_signature(task_id).encode(), signature.encode())

    def image_signature(self, task_id: str, expires_s: int) -> str:
        return _mac(self._key("image"), f"{task_id}.{expires_s}").hex()[:32]

    def verify_image(self, task_id: str, expires_s: int, signature: str) -> bool:
        return hmac.compare_digest(self.image_signature(task_id, expires_s).encode(), signature.encode())

    def hook_secret(self, account_id: str) -> str:
        """The account's webhook signing secret (stable; rotating the master rotates every one)."""
        digest = _mac(self._key("hook"), account_id)
        return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_payload(secret: str, body: bytes, timestamp_s: int) -> str:
    """The ``X-Tollway-Signature`` value of ``body`` sent at ``timestamp_s``."""
    mac = hmac.new(secret.encode(), str(timestamp_s).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp_s},v1={mac}"


def verify_payload(
    secret: str, body: bytes, header: str, *, now_s: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """What a receiver does: the timestamp is recent (both ways) and some ``v1`` matches."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now_s - timestamp) > tolerance_s:
        return False
    expected = sign_payload(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected.encode(), v.strip().encode()) for k, v in parts if k.strip() == "v1")
