"""Console session cookies and CSRF tokens: stateless, signed with HMAC-SHA256.

A session cookie is ``<payload>.<signature>``: the payload (base64url JSON) names the account, a random
session id, and the issue and expiry times. Any relay instance can check it with the shared key; a
sign-out writes a revocation marker for the session id (checked on every call), so a copied cookie stops
working at once. The CSRF token is an HMAC of the session id under a second derived key: a page of this
origin reads it from ``GET /console/api/me`` and sends it as ``X-CSRF-Token``; another site cannot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

__all__ = ["Session", "SessionSigner"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    account_id: str
    session_id: str
    issued_s: int
    expires_s: int


class SessionSigner:
    def __init__(self, master: bytes) -> None:
        self._session_key = hmac.new(master, b"tollway-console/session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(master, b"tollway-console/csrf", hashlib.sha256).digest()

    def issue(self, account_id: str, now_s: int, ttl_s: int) -> tuple[str, Session]:
        session = Session(account_id, secrets.token_urlsafe(18), now_s, now_s + ttl_s)
        payload = {"a": account_id, "s": session.session_id, "i": now_s, "e": session.expires_s}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}", session

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._session_key, body.encode(), hashlib.sha256).digest())

    def read(self, cookie: str | None, now_s: int) -> Session | None:
        """The session a cookie carries, or None (absent, forged, malformed or expired)."""
        if not cookie or len(cookie) > 1024 or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            session = Session(str(data["a"]), str(data["s"]), int(data["i"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_s > now_s else None

    def csrf(self, session: Session) -> str:
        return _b64(hmac.new(self._csrf_key, session.session_id.encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf(session).encode(), token.encode())
