"""Console records on the item store: logins, session revocations, rate-limit windows, invites,
verification tokens and (local stack only) the outbox of mail.

Keys (``pk`` / ``sk``):

- ``login#<e-mail>`` / ``login``: the account, the argon2id hash, whether the address is verified;
- ``owner#<account id>`` / ``login``: the e-mail address (an account has at most one login);
- ``revoked#<session id>`` / ``session``: a signed-out session (expires with the session);
- ``rate#<rule>#<who>`` / ``<window start>``: a fixed-window counter (expires after its window);
- ``invite#<sha256>`` / ``invite``: a sign-up invite code, ``unused`` until one sign-up claims it;
- ``verify#<sha256>`` / ``verify``: an e-mail verification token (single use, expires);
- ``mail`` / ``<ms>#<id>``: mail the local stack "sent" (shown at a local-only page).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tollway.console.items import Claim, ConditionFailed, DynamoItems, Item, Items, MemoryItems

if TYPE_CHECKING:
    from tollway.services import Services

__all__ = [
    "ConsoleStore",
    "InviteRefused",
    "Login",
    "LoginExists",
    "console_store",
    "digest",
    "new_token",
]

_ATTRIBUTE = "_tollway_console_store"
_lock = threading.Lock()
_MAIL_TTL_S = 86400


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


class LoginExists(Exception):
    """The e-mail address (or the account) already has a login."""


class InviteRefused(Exception):
    """The invite code is unknown or already used."""


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    account_id: str
    password_hash: str
    verified: bool
    created_at: int


class ConsoleStore:
    def __init__(self, items: Items) -> None:
        self.items = items

    # ---- logins ----------------------------------------------------------------------------------
    def create_login(self, login: Login, *, invite: str | None = None) -> None:
        """Claim the address (and the invite, if given) for the account, once.

        Raises:
            LoginExists: the address or the account already has a login.
            InviteRefused: the invite is unknown or used (nothing was written).
        """
        rows: list[tuple[str, str, Item]] = [
            (
                f"login#{login.email}",
                "login",
                {
                    "account_id": login.account_id,
                    "password_hash": login.password_hash,
                    "verified": login.verified,
                    "created_at": login.created_at,
                },
            ),
            (f"owner#{login.account_id}", "login", {"email": login.email}),
        ]
        claim = None
        if invite is not None:
            changes: Item = {"status": "used", "used_by": login.account_id, "used_at": login.created_at}
            claim = Claim(f"invite#{digest(invite)}", "invite", "status", "unused", changes)
        try:
            self.items.create(rows, claim)
        except ConditionFailed as failed:
            if failed.index == len(rows):
                raise InviteRefused() from failed
            raise LoginExists() from failed

    def get_login(self, email: str) -> Login | None:
        item = self.items.get(f"login#{email}", "login")
        if item is None:
            return None
        return Login(
            email=email,
            account_id=str(item["account_id"]),
            password_hash=str(item["password_hash"]),
            verified=bool(item.get("verified", False)),
            created_at=int(item.get("created_at", 0)),
        )

    def email_of(self, account_id: str) -> str | None:
        item = self.items.get(f"owner#{account_id}", "login")
        return None if item is None else str(item["email"])

    def set_password_hash(self, email: str, password_hash: str) -> None:
        self.items.update(f"login#{email}", "login", {"password_hash": password_hash})

    def set_verified(self, email: str) -> None:
        self.items.update(f"login#{email}", "login", {"verified": True})

    # ---- sessions --------------------------------------------------------------------------------
    def revoke_session(self, session_id: str, expires_s: int) -> None:
        self.items.put(f"revoked#{session_id}", "session", {"expires_at": expires_s})

    def is_revoked(self, session_id: str) -> bool:
        return self.items.get(f"revoked#{session_id}", "session") is not None

    # ---- rate limits -----------------------------------------------------------------------------
    def allow(self, rule: str, who: str, *, limit: int, window_s: int, now_s: int) -> bool:
        """Count one attempt of ``who`` under ``rule``; False once ``limit`` attempts fall in this window."""
        start = now_s - now_s % window_s
        return self.items.count(f"rate#{rule}#{who}", str(start), limit, start + window_s + 60)

    # ---- invites ---------------------------------------------------------------------------------
    def create_invites(self, count: int, *, now: int, created_by: str) -> list[str]:
        codes = [new_token("inv-") for _ in range(count)]
        for code in codes:
            self.items.create(
                [(f"invite#{digest(code)}", "invite", {"status": "unused", "created_at": now, "by": created_by})]
            )
        return codes

    # ---- e-mail verification ---------------------------------------------------------------------
    def new_verification(self, email: str, *, expires_s: int) -> str:
        token = new_token("vfy-")
        self.items.put(f"verify#{digest(token)}", "verify", {"email": email, "expires_at": expires_s})
        return token

    def take_verification(self, token: str, now_s: int) -> str | None:
        """The address a token verifies (once; None if unknown, used or expired)."""
        item = self.items.take(f"verify#{digest(token)}", "verify")
        if item is None or int(item.get("expires_at", 0)) <= now_s:
            return None
        return str(item["email"])

    # ---- the local stack's outbox ----------------------------------------------------------------
    def keep_mail(self, to: str, subject: str, body: str, *, now_ms: int) -> None:
        sk = f"{now_ms:013d}#{secrets.token_hex(4)}"
        row: Item = {
            "to": to,
            "subject": subject,
            "body": body,
            "at": now_ms,
            "expires_at": now_ms // 1000 + _MAIL_TTL_S,
        }
        self.items.put("mail", sk, row)

    def recent_mail(self, limit: int = 20) -> list[dict[str, str | int | bool]]:
        return self.items.newest("mail", limit)


def use_console_store(services: Services, store: ConsoleStore) -> None:
    vars(services)[_ATTRIBUTE] = store


def console_store(services: Services) -> ConsoleStore:
    """The console store of ``services``: the ConsoleTable beside its DynamoDB stores, or memory."""
    found = vars(services).get(_ATTRIBUTE)
    if isinstance(found, ConsoleStore):
        return found
    with _lock:
        found = vars(services).get(_ATTRIBUTE)
        if not isinstance(found, ConsoleStore):
            from tollway.config.dynamodb import DynamoConfig

            config = services.config
            if isinstance(config, DynamoConfig):
                found = ConsoleStore(DynamoItems(config.client, services.settings.console_table))
            else:
                found = ConsoleStore(MemoryItems())
            use_console_store(services, found)
        return found
