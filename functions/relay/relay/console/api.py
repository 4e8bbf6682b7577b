"""The console's JSON API (``/console/api/...``): sessions, keys, usage, credits, redemption, prices.

Every rule about money, keys and records is the one the rest of tollway uses — the console calls it,
never re-implements it:

- sign-up opens the account with ``open_account`` (``account.create``'s own code: the sign-up credit of
  ``TOLLWAY_SIGNUP_CREDIT_USD``, one ledger entry, exactly once per account id);
- keys are created, changed, disabled and revoked by the ``key.*`` and ``mj.key-settings`` command
  functions, with the session's account filled in and every key id owner-checked first;
- usage rows are ``public_record`` of the same records ``/api/usage/logs`` serves; totals come from
  ``tollway.usage.totals.spend``; the CSV is ``tollway.exports.write_usage_csv``;
- redemption is ``redeem_code``, the race-proof transaction of ``POST /api/redeem``;
- prices are ``/api/pricing``'s ``_priced`` for the account's group.

Security (docs/console.md): signed HttpOnly SameSite=Strict session cookies (Secure except on plain-HTTP
localhost) with a revocation marker checked on every call; ``X-CSRF-Token`` on every state-changing call
of a session and a same-origin check on all of them; fixed-window rate limits on sign-in, sign-up and
redemption; the same answer (and the same argon2 work) for an unknown address and a wrong password.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.admin.commands import keys as key_commands
from tollway.admin.commands import mj as mj_commands
from tollway.admin.commands._common import micros_of
from tollway.admin.commands.accounts import open_account
from tollway.admin.registry import AdminContext, CommandError
from tollway.config.catalog import Catalog
from tollway.console.mail import is_local, send_mail
from tollway.console.options import ConsoleOptions, load_options
from tollway.console.passwords import PasswordProblem, check_password_rules, passwords_for
from tollway.console.store import ConsoleStore, InviteRefused, Login, LoginExists, console_store
from tollway.console.tokens import Session, SessionSigner
from tollway.errors import (
    AuthenticationFailed,
    ClientError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TollwayError,
)
from tollway.exports import CUSTOMER_COLUMNS, write_usage_csv
from tollway.ids import account_id as new_account_id
from tollway.money import format_usd
from tollway.records import UsageRecord
from tollway.services import Services
from tollway.settings import Settings
from tollway.usage.query import UsageFilter
from tollway.usage.totals import spend

from relay.asgi import read_body
from relay.console.web import SECURITY_HEADERS
from relay.pipeline import Pipeline
from relay.routes.customer import _priced, _time_ms, public_record
from relay.routes.redeem import redeem_code

__all__ = ["ConsoleApi"]

T = TypeVar("T")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MAX_BODY = 16 * 1024
_MAX_KEYS = 50
_CSV_MAX_ROWS = 10_000
_DASHBOARD_MAX_RECORDS = 20_000
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


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = {**SECURITY_HEADERS, "cache-control": "no-store", **(headers or {})}
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=all_headers)


def normalize_email(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("Enter your e-mail address.", param="email", code="invalid_email")
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidRequest("This is not a valid e-mail address.", param="email", code="invalid_email")
    return email


def _text(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 500) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"'{name}' is required.", param=name)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidRequest(f"'{name}' must be text of at most {max_len} characters.", param=name)
    return value


def _command_error(exc: CommandError) -> TollwayError:
    if exc.code == "not_found":
        return NotFound(exc.message, code="not_found")
    if exc.code == "conflict":
        return ClientError(exc.message, code="conflict", status_code=409)
    return InvalidRequest(exc.message, code=exc.code)


def _args(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate command arguments; the first problem becomes a clear 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequest(f"'{field}': {first['msg']}", param=field) from None


class ConsoleApi:
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
            raise RateLimited(
                "Too many attempts; try again later.", code="too_many_attempts", headers={"retry-after": str(retry)}
            )

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
        response = _json({**body, "csrf": signer.csrf(session)})
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

    # ---- public ----------------------------------------------------------------------------------
    async def config(self, request: Request) -> Response:
        svc = await self._svc()
        options = await self._options(svc)
        return _json(
            {
                **options.public(),
                "signup_credit_usd": format_usd(micros_of(self.settings.signup_credit_usd)),
                "local": is_local(self.settings),
            }
        )

    async def signup(self, request: Request) -> Response:
        self._same_origin(request)
        svc = await self._svc()
        options = await self._options(svc)
        if options.signup == "closed":
            raise PermissionDenied("Sign-up is closed on this site.", code="signup_closed")
        data = await self._body(request)
        email = normalize_email(data.get("email"))
        password = _text(data, "password", max_len=10_000) or ""
        try:
            check_password_rules(password, email)
        except PasswordProblem as exc:
            raise InvalidRequest(str(exc), param="password", code="weak_password") from None
        invite = _text(data, "invite", required=options.signup == "invite", max_len=100)
        store = self._store(svc)
        await self._limit(store, "signup-ip", self._client_ip(request))
        await self._limit(store, "signup-email", email)
        now = svc.clock_ms()
        login = Login(
            email=email,
            account_id=new_account_id(),
            password_hash=await self._run(self.passwords.hash, password),
            verified=not options.email_verification,
            created_at=now,
        )
        try:
            await self._run(lambda: store.create_login(login, invite=invite if options.signup == "invite" else None))
        except InviteRefused:
            raise InvalidRequest("This invite code is not valid.", param="invite", code="invite_invalid") from None
        except LoginExists:
            if options.email_verification:
                # Same answer as a new address: only the address's owner learns, by mail, that it is taken.
                await self._run(self._mail_taken, svc, store, email, request)
                return _json({"status": "verify_email"}, status=202)
            raise ClientError(
                "An account with this e-mail address exists; sign in instead.", code="email_taken", status_code=409
            ) from None
        await self._run(self._open, svc, login)
        if options.email_verification:
            await self._run(self._mail_verification, svc, store, email, request)
            return _json({"status": "verify_email"}, status=202)
        return await self._run(self._signed_in, request, svc, login.account_id, {"status": "signed_in"})

    def _open(self, svc: Services, login: Login) -> Account:
        """The login's account, opened with the sign-up credit if it is not there yet (exactly once: the
        account id is fixed by the login, and opening an existing id changes nothing)."""
        found = svc.accounts.get_account(login.account_id)
        if found is not None:
            return found
        credit = micros_of(self.settings.signup_credit_usd)
        try:
            return open_account(
                svc,
                name=login.email,
                group=self.settings.default_group,
                credit=credit,
                actor="console:signup",
                now=svc.clock_ms(),
                account_id=login.account_id,
            )
        except ValueError:
            account = svc.accounts.get_account(login.account_id)
            if account is None:  # pragma: no cover - the conflict says it exists
                raise
            return account

    def _base(self, request: Request) -> str:
        """The site's public URL (with the API Gateway stage path): links in mail, redirects."""
        from relay.mj.auth import public_base

        return self.settings.mj_public_base_url or public_base(request, self.settings)

    def _mail_verification(self, svc: Services, store: ConsoleStore, email: str, request: Request) -> None:
        token = store.new_verification(email, expires_s=int(time.time()) + 86400)
        link = f"{self._base(request)}/console/api/verify?token={token}"
        body = f"Confirm your e-mail address to finish signing up:\n\n{link}\n\nThe link works once, for 24 hours."
        send_mail(
            self.settings, store, to=email, subject="Confirm your e-mail address", body=body, now_ms=svc.clock_ms()
        )

    def _mail_taken(self, svc: Services, store: ConsoleStore, email: str, request: Request) -> None:
        body = (
            "Someone tried to sign up with this e-mail address, which already has an account.\n"
            f"If it was you, sign in at {self._base(request)}/ instead."
        )
        send_mail(self.settings, store, to=email, subject="Sign-up attempt", body=body, now_ms=svc.clock_ms())

    async def verify(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        svc = await self._svc()
        store = self._store(svc)
        email = None
        if 0 < len(token) <= 100:
            email = await self._run(store.take_verification, token, int(time.time()))
        if email is not None:
            await self._run(store.set_verified, email)
        return RedirectResponse(f"{self._base(request)}/#/signin?verified={'1' if email else '0'}", status_code=303)

    async def signin(self, request: Request) -> Response:
        self._same_origin(request)
        data = await self._body(request)
        email = normalize_email(data.get("email"))
        password = _text(data, "password", max_len=10_000) or ""
        svc = await self._svc()
        store = self._store(svc)
        await self._limit(store, "signin-ip", self._client_ip(request))
        await self._limit(store, "signin-email", email)
        login = await self._run(store.get_login, email)
        # An unknown address still costs one argon2 verification: the same time as a wrong password.
        ok = await self._run(self.passwords.verify, login.password_hash if login else None, password[:256])
        if login is None or not ok:
            raise AuthenticationFailed("Wrong e-mail address or password.", code="wrong_credentials")
        if not login.verified:
            raise PermissionDenied("Confirm your e-mail address first: we sent you a link.", code="email_unverified")
        account = await self._run(self._open, svc, login)
        if account.status is not AccountStatus.ACTIVE:
            raise PermissionDenied("This account is disabled.", code="account_disabled")
        return await self._run(self._signed_in, request, svc, account.account_id, {"status": "signed_in"})

    async def signout(self, request: Request) -> Response:
        svc, session, _ = await self._session(request, write=True)
        await self._run(self._store(svc).revoke_session, session.session_id, session.expires_s)
        response = _json({"status": "signed_out"})
        response.delete_cookie(
            self._cookie_name(request), path="/", secure=self._secure(request), httponly=True, samesite="strict"
        )
        return response

    async def dev_mail(self, request: Request) -> Response:
        if not is_local(self.settings):
            raise NotFound(f"Unknown route: {request.method} {request.url.path}", code="unknown_route")
        svc = await self._svc()
        return _json({"object": "list", "data": await self._run(self._store(svc).recent_mail)})

    # ---- the signed-in customer ------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        svc, session, account = await self._session(request, write=False)
        store = self._store(svc)
        email = await self._run(store.email_of, account.account_id)
        options = await self._options(svc)
        return _json(
            {
                "account_id": account.account_id,
                "email": email,
                "group": account.group,
                "balance": account.balance,
                "balance_usd": format_usd(account.balance),
                "display": _display(options, account.balance),
                "csrf": self._signer_of(svc).csrf(session),
                "session_expires_at": session.expires_s,
            }
        )

    async def dashboard(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        now = datetime.now(tz=UTC)
        midnight = int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() * 1000)
        month = int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp() * 1000)
        # A page load reads at most this many records per total (an account with more sees "complete": false).
        limit = min(svc.settings.usage_sum_max_records, _DASHBOARD_MAX_RECORDS)
        mine = UsageFilter(account_id=account.account_id)

        def read() -> dict[str, Any]:
            today = spend(svc.usage, UsageFilter(account_id=account.account_id, start_ms=midnight), max_records=limit)
            this_month = spend(svc.usage, UsageFilter(account_id=account.account_id, start_ms=month), max_records=limit)
            recent = svc.usage.query(UsageFilter(account_id=mine.account_id, limit=10))
            return {
                "spend_today_usd": format_usd(today.total),
                "spend_month_usd": format_usd(this_month.total),
                "requests_today": today.records,
                "complete": today.complete and this_month.complete,
                "recent": [public_record(r) for r in recent.records],
            }

        body = await self._run(read)
        options = await self._options(svc)
        body.update(
            balance=account.balance, balance_usd=format_usd(account.balance), display=_display(options, account.balance)
        )
        return _json(body)

    # ---- keys ------------------------------------------------------------------------------------
    async def list_keys(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        keys = await self._run(svc.accounts.list_keys, account.account_id)
        rows = [_key_row(k) for k in sorted(keys, key=lambda k: k.created_at, reverse=True)]
        return _json({"object": "list", "data": [r for r in rows if r["status"] != KeyStatus.REVOKED.value]})

    async def create_key(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        data = await self._key_body(request)
        mj: dict[str, Any] = {k: data.pop(k) for k in ("mj_mode", "mj_image_mode") if k in data}
        args = _args(key_commands.CreateKey, {**data, "account_id": account.account_id})
        mj_args = _args(mj_commands.KeySettings, {"key_id": "pending", **_mj_changes(mj)}) if mj else None
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            live = [k for k in svc.accounts.list_keys(account.account_id) if k.status is not KeyStatus.REVOKED]
            if len(live) >= _MAX_KEYS:
                raise ClientError(
                    f"An account may have at most {_MAX_KEYS} keys.", code="too_many_keys", status_code=409
                )
            try:
                created = key_commands.create_key(args, context)
                if mj_args is not None:
                    mj_commands.key_settings(mj_args.model_copy(update={"key_id": created["key_id"]}), context)
            except CommandError as exc:
                raise _command_error(exc) from None
            key = svc.accounts.get_key_by_id(str(created["key_id"]))
            if key is None:  # pragma: no cover - just created
                raise NotFound("No such key.", code="key_not_found")
            return {"key": created["key"], **_key_row(key)}

        return _json(await self._run(run), status=201)

    async def update_key(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        key = await self._own_key(svc, account, request.path_params["key_id"])
        data = await self._key_body(request)
        mj: dict[str, Any] = {k: data.pop(k) for k in ("mj_mode", "mj_image_mode") if k in data}
        args = _args(key_commands.UpdateKey, {**data, "key_id": key.key_id})
        mj_args = _args(mj_commands.KeySettings, {"key_id": key.key_id, **_mj_changes(mj)}) if mj else None
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            try:
                key_commands.update_key(args, context)
                if mj_args is not None:
                    mj_commands.key_settings(mj_args, context)
            except CommandError as exc:
                raise _command_error(exc) from None
            fresh = svc.accounts.get_key_by_id(key.key_id)
            if fresh is None:  # pragma: no cover - owner-checked above
                raise NotFound("No such key.", code="key_not_found")
            return _key_row(fresh)

        return _json(await self._run(run))

    async def _status(self, request: Request, command: Callable[[Any, AdminContext], dict[str, Any]]) -> Response:
        svc, _, account = await self._session(request, write=True)
        key = await self._own_key(svc, account, request.path_params["key_id"])
        context = self._context(svc, account)

        def run() -> dict[str, Any]:
            try:
                command(key_commands.KeyRef(key_id=key.key_id), context)
            except CommandError as exc:
                raise _command_error(exc) from None
            fresh = svc.accounts.get_key_by_id(key.key_id)
            return {} if fresh is None else _key_row(fresh)

        return _json(await self._run(run))

    async def disable_key(self, request: Request) -> Response:
        return await self._status(request, key_commands.disable_key)

    async def enable_key(self, request: Request) -> Response:
        return await self._status(request, key_commands.enable_key)

    async def delete_key(self, request: Request) -> Response:
        # Deleting revokes for good: the key stops working at once, its usage history stays.
        return await self._status(request, key_commands.revoke_key)

    # ---- usage -----------------------------------------------------------------------------------
    async def _usage_filter(self, request: Request, svc: Services, account: Account, limit: int) -> UsageFilter:
        params = request.query_params
        key_id = params.get("key_id") or None
        if key_id is not None:
            await self._own_key_any(svc, account, key_id)
        model = params.get("model") or None
        if model is not None and len(model) > 200:
            raise InvalidRequest("'model' is too long.", param="model")
        return UsageFilter(
            account_id=account.account_id,
            key_id=key_id,
            start_ms=_time_ms(params.get("start"), "start"),
            end_ms=_time_ms(params.get("end"), "end"),
            model=model,
            limit=limit,
            cursor=params.get("cursor") or None,
        )

    async def _own_key_any(self, svc: Services, account: Account, key_id: str) -> ApiKey:
        """Like ``_own_key`` but a revoked (deleted) key's history may still be read."""
        key = await self._run(svc.accounts.get_key_by_id, key_id)
        if key is None or key.account_id != account.account_id:
            raise NotFound("No such key.", code="key_not_found")
        return key

    async def usage(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        wanted = request.query_params.get("request_id")
        if wanted:
            record = await self._run(svc.usage.get, account.account_id, wanted[:100])
            found = record is not None and record.account_id == account.account_id
            rows = [public_record(record)] if found and record is not None else []
            return _json({"object": "list", "data": rows, "next_cursor": None, "has_more": False})
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise InvalidRequest("'limit' must be between 1 and 100.", param="limit")
        flt = await self._usage_filter(request, svc, account, int(limit))
        try:
            page = await self._run(svc.usage.query, flt)
        except ValueError as exc:
            raise InvalidRequest("'cursor' is not valid.", param="cursor") from exc
        rows = [public_record(r) for r in page.records]
        return _json(
            {"object": "list", "data": rows, "next_cursor": page.next_cursor, "has_more": bool(page.next_cursor)}
        )

    async def usage_csv(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        flt = await self._usage_filter(request, svc, account, 1000)

        def build() -> bytes:
            records: list[UsageRecord] = []
            cursor = None
            while len(records) < _CSV_MAX_ROWS:
                try:
                    page = svc.usage.query(UsageFilter(**{**flt.__dict__, "cursor": cursor}))
                except ValueError as exc:
                    raise InvalidRequest("'cursor' is not valid.", param="cursor") from exc
                records.extend(page.records)
                cursor = page.next_cursor
                if cursor is None:
                    break
            out = io.StringIO()
            write_usage_csv(records[:_CSV_MAX_ROWS], out, CUSTOMER_COLUMNS)
            return out.getvalue().encode()

        body = await self._run(build)
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d-%H%M%S")
        headers = {
            **SECURITY_HEADERS,
            "cache-control": "no-store",
            "content-disposition": f'attachment; filename="usage-{stamp}.csv"',
        }
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)

    # ---- money in --------------------------------------------------------------------------------
    async def credits(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        entries = await self._run(lambda: svc.ledger.credits(account.account_id, limit=50, max_read=5000))
        rows = [
            {
                "entry_id": e.entry_id,
                "time": datetime.fromtimestamp(e.created_at / 1000, tz=UTC).isoformat(timespec="seconds"),
                "kind": e.kind.value,
                "amount_usd": format_usd(e.amount),
                "reason": _credit_reason(e.reason),
            }
            for e in entries
        ]
        return _json({"object": "list", "data": rows})

    async def redeem(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=True)
        data = await self._body(request)
        code = _text(data, "code", max_len=100) or ""
        store = self._store(svc)
        await self._limit(store, "redeem-account", account.account_id)
        await self._limit(store, "redeem-ip", self._client_ip(request))
        body = await redeem_code(self.pipeline, code, account_id=account.account_id, key_hash=None, key_id=None)
        return _json(body)

    # ---- prices ----------------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        svc, _, account = await self._session(request, write=False)
        catalog = await self.pipeline.catalog(svc)
        ratio = catalog.group_ratio(account.group)
        data = []
        for name in catalog.models_for(account.group):
            price = catalog.price(name)
            if price is not None:
                data.append({"model": name, **_priced(price, ratio)})
        body = {"object": "list", "group": account.group, "ratio": str(ratio), "currency": "USD", "data": data}
        body["midjourney"] = _mj_prices(catalog, account.group, ratio)
        return _json(body)


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


def _credit_reason(reason: str) -> str:
    """A ledger reason as the customer sees it (an operator's adjustment keeps its stated reason)."""
    if reason == "signup":
        return "signup"
    if reason.startswith("redeem "):
        return reason.split(" (batch", 1)[0]
    return reason


def _display(options: ConsoleOptions, balance: int) -> dict[str, str] | None:
    """The balance in the operator's display currency ("¥2 = $1"), or None."""
    if not options.currency_symbol or not options.currency_rate:
        return None
    from decimal import ROUND_DOWN, Decimal

    amount = (Decimal(balance) / Decimal(1_000_000) * Decimal(options.currency_rate)).quantize(
        Decimal("0.01"), rounding=ROUND_DOWN
    )
    return {"symbol": options.currency_symbol, "rate": options.currency_rate, "amount": format(amount, "f")}


def _mj_prices(catalog: Catalog, group: str, ratio: Decimal) -> list[dict[str, Any]]:
    """What each Midjourney action the group is served costs at each speed — ``mj.pricing.price_of``, the
    price a submit is charged (channels list an action's base key; type-1 prices are per mode)."""
    from tollway.mj.actions import ACTIONS
    from tollway.mj.model import Mode
    from tollway.mj.pricing import price_of

    served = {m for c in catalog.channels if c.status.value == "enabled" and group in c.groups for m in c.models}
    rows: dict[str, dict[str, Any]] = {}
    for spec in ACTIONS.values():
        if spec.base_key not in served or spec.price_name in rows:
            continue
        modes = {}
        for mode in Mode:
            priced = price_of(spec, mode, catalog, ratio)
            if priced is not None:
                modes[mode.value] = format_usd(priced.micros)
        if modes:
            rows[spec.price_name] = {"action": spec.price_name, "by_mode": spec.by_mode, "usd": modes}
    return [rows[k] for k in sorted(rows)]
