"""Plumbing shared by the console's views: the session of a call, CSRF and same-origin checks, rate
limits, JSON bodies and answers (docs/console.md, "Security rules").

Sessions are signed HttpOnly SameSite=Strict cookies (Secure except on plain-HTTP localhost) with a
revocation marker checked on every call; every state-changing call needs ``X-Tollway-Console`` and a
same-origin ``Origin``, and with a session the ``X-CSRF-Token`` from ``GET /console/api/me``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.admin.registry import AdminContext
from tollway.console.mail import is_local
from tollway.console.options import ConsoleOptions, load_options
from tollway.console.passwords import passwords_for
from tollway.console.store import ConsoleStore, console_store
from tollway.console.tokens import Session, SessionSigner
from tollway.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TollwayError,
)
from tollway.services import Services
from tollway.settings import Settings

from relay.asgi import read_body
from relay.console.web import SECURITY_HEADERS
from relay.pipeline import Pipeline

__all__ = ["ConsoleBase", "display", "json_response", "normalize_email", "parse_args", "text_field"]


T = TypeVar("T")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MAX_BODY = 16 * 1024
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# (limit, window seconds) of each rate-limit rule
_LIMITS = {
    "signin-ip": (30, 900),
    "signin-email": (10, 900),
    "signup-ip": (5, 3600),
    "signup-email": (3, 3600),
    "redeem-account": (10, 600),
    "redeem-ip": (30, 600),
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = {**SECURITY_HEADERS, "cache-control": "no-store", **(headers or {})}
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=all_headers)


def normalize_email(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("Enter your e-mail address.", param="email", code="invalid_email")
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequest("This is not a valid e-mail address.", param="email", code="invalid_email")
    return email


def text_field(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 500) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"'{name}' is required.", param=name)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidRequest(f"'{name}' must be text of at most {max_len} characters.", param=name)
    return value


def parse_args(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate command arguments; the first problem becomes a clear 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"'{field}': {first['msg']}", param=field) from None


class ConsoleBase:
    """What every console view needs: the pipeline, settings, password hasher and the session signer."""

    def __init__(self, pipeline: Pipeline, settings: Settings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.passwords = passwords_for(settings.console_argon2_memory_kib, settings.console_argon2_time_cost)
        self._signer: SessionSigner | None = None
        self._lock = threading.Lock()

    # ---- plumbing --------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.pipeline.blocking(fn, *args)

    async def _svc(self) -> Services:
        return await self.pipeline.services()

    def _store(self, svc: Services) -> ConsoleStore:
        return console_store(svc)

    def _signer_of(self, svc: Services) -> SessionSigner:
        if self._signer is None:
            with self._lock:
                if self._signer is None:
                    if svc.mj is None:  # pragma: no cover - every Services has its vault
                        raise TollwayError("The console has no key store.")
                    master = svc.mj.vault.get_or_create(f"{self.settings.secrets_prefix}console/session-key")
                    self._signer = SessionSigner(master.encode())
        return self._signer

    def _secure(self, request: Request) -> bool:
        """Secure cookies everywhere except plain HTTP on a loopback host (the local stack)."""
        host = (request.url.hostname or "").lower()
        forwarded = request.headers.get("x-forwarded-proto", "")
        return not (host in _LOCAL_HOSTS and request.url.scheme == "http" and forwarded != "https")

    def _cookie_name(self, request: Request) -> str:
        # __Host-: the browser only keeps it when Secure, Path=/ and no Domain (no subdomain can plant it).
        return "__Host-tollway_session" if self._secure(request) else "tollway_session"

    def _client_ip(self, request: Request) -> str:
        # On AWS, Lambda Web Adapter is uvicorn's only client and passes API Gateway's request context.
        context = request.headers.get("x-amzn-request-context")
        if context and not is_local(self.settings):
            try:
                ip = orjson.loads(context).get("identity", {}).get("sourceIp")
            except (orjson.JSONDecodeError, AttributeError):
                ip = None
            if isinstance(ip, str) and ip:
                return ip
        return request.client.host if request.client else "unknown"

    def _same_origin(self, request: Request) -> None:
        """Refuse a state-changing call another site's page made (Origin, or Sec-Fetch-Site, says so)."""
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            host = request.headers.get("host", "")
            if origin.split("://", 1)[-1] != host:
                raise PermissionDenied("Cross-site request refused.", code="csrf_failed")
        elif origin == "null" or request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise PermissionDenied("Cross-site request refused.", code="csrf_failed")
        if request.headers.get("x-tollway-console") != "1":
            # A custom header: a form or image on another site cannot send it, and a cross-origin
            # fetch that tries needs a preflight that never carries the session cookie.
            raise PermissionDenied("Missing the X-Tollway-Console header.", code="csrf_failed")

    async def _key_body(self, request: Request) -> dict[str, Any]:
        """A key's settings; the account and key id come from the session and the path, never the body."""
        data = await self._body(request)
        for name in ("account_id", "key_id"):
            if name in data:
                raise InvalidRequest(f"'{name}' is not a setting of a key.", param=name)
        return data

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await read_body(request, _MAX_BODY)
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
        return data

    async def _limit(self, store: ConsoleStore, rule: str, who: str) -> None:
        limit, window = _LIMITS[rule]
        if rule == "signup-ip":
            limit = self.settings.console_signup_ip_limit
        elif rule == "signin-ip":
            limit = self.settings.console_signin_ip_limit
        now_s = int(time.time())
        if not await self._run(lambda: store.allow(rule, who, limit=limit, window_s=window, now_s=now_s)):
            retry = window - now_s % window
            raise RateLimited("Too many attempts; try again later.", code="too_many_attempts", retry_after=str(retry))

    async def _options(self, svc: Services) -> ConsoleOptions:
        return await self._run(load_options, svc.config, self.settings)

    async def _session(self, request: Request, *, write: bool) -> tuple[Services, Session, Account]:
        """The signed-in account of this call (and, for a state-changing call, the CSRF checks)."""
        svc = await self._svc()
        signer = await self._run(self._signer_of, svc)
        session = signer.read(request.cookies.get(self._cookie_name(request)), int(time.time()))
        if session is None:
            raise AuthenticationFailed("Please sign in.", code="not_signed_in")
        store = self._store(svc)
        if await self._run(store.is_revoked, session.session_id):
            raise AuthenticationFailed("Please sign in.", code="not_signed_in")
        if write:
            self._same_origin(request)
            if not signer.csrf_ok(session, request.headers.get("x-csrf-token")):
                raise PermissionDenied("Missing or wrong CSRF token; reload the page.", code="csrf_failed")
        account = await self._run(svc.accounts.get_account, session.account_id)
        if account is None:
            raise AuthenticationFailed("Please sign in.", code="not_signed_in")
        if account.status is not AccountStatus.ACTIVE:
            raise PermissionDenied("This account is disabled.", code="account_disabled")
        return svc, session, account

    def _signed_in(self, request: Request, svc: Services, account_id: str, body: dict[str, Any]) -> Response:
        signer = self._signer_of(svc)
        ttl = self.settings.console_session_ttl_s
        cookie, session = signer.issue(account_id, int(time.time()), ttl)
        response = json_response({**body, "csrf": signer.csrf(session)})
        response.set_cookie(
            self._cookie_name(request),
            cookie,
            max_age=ttl,
            path="/",
            secure=self._secure(request),
            httponly=True,
            samesite="strict",
        )
        return response

    def _context(self, svc: Services, account: Account) -> AdminContext:
        return AdminContext(services=svc, actor=f"console:{account.account_id}", clock_ms=svc.clock_ms)

    async def _own_key(self, svc: Services, account: Account, key_id: str) -> ApiKey:
        """The caller's key ``key_id``; another account's key answers exactly like a missing one."""
        key = await self._run(svc.accounts.get_key_by_id, key_id)
        if key is None or key.account_id != account.account_id or key.status is KeyStatus.REVOKED:
            raise NotFound("No such key.", code="key_not_found")
        return key


def display(options: ConsoleOptions, balance: int) -> dict[str, str] | None:
    """The balance in the operator's display currency ("¥2 = $1"), or None."""
    if not options.currency_symbol or not options.currency_rate:
        return None
    from decimal import ROUND_DOWN

    amount = (Decimal(balance) / Decimal(1_000_000) * Decimal(options.currency_rate)).quantize(
        Decimal("0.01"), rounding=ROUND_DOWN
    )
    return {"symbol": options.currency_symbol, "rate": options.currency_rate, "amount": format(amount, "f")}
