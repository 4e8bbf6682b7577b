"""Sign-up, sign-in, sign-out, e-mail verification and the public configuration of the console.

Sign-up opens the account with ``open_account`` — the body of ``account.create``: the sign-up credit of
``TOLLWAY_SIGNUP_CREDIT_USD``, one ledger entry, exactly once per account id. The login is claimed
first (with a fresh account id), the account opened after it, so a retry or a crash in between can never
credit twice (a sign-in opens an account a crash left unopened).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from tollway.accounts.model import Account, AccountStatus
from tollway.admin.commands._common import micros_of
from tollway.admin.commands.accounts import open_account
from tollway.console.mail import is_local, send_mail
from tollway.console.passwords import check_password_rules
from tollway.console.store import ConsoleStore, InviteRefused, Login, LoginExists
from tollway.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from tollway.ids import account_id as new_account_id
from tollway.money import format_usd
from tollway.services import Services

from relay.console.base import (
    ConsoleBase,
    json_response,
    normalize_email,
    text_field,
)

__all__ = ["AuthViews"]


class AuthViews(ConsoleBase):
    # ---- public ----------------------------------------------------------------------------------
    async def config(self, request: Request) -> Response:
        svc = await self._svc()
        options = await self._options(svc)
        return json_response(
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
        password = text_field(data, "password", max_len=10_000) or ""
        check_password_rules(password, email)
        invite = text_field(data, "invite", required=options.signup == "invite", max_len=100)
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
                return json_response({"status": "verify_email"}, status=202)
            raise Conflict("An account with this e-mail address exists; sign in instead.", code="email_taken") from None
        await self._run(self._open, svc, login)
        if options.email_verification:
            await self._run(self._mail_verification, svc, store, email, request)
            return json_response({"status": "verify_email"}, status=202)
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
        password = text_field(data, "password", max_len=10_000) or ""
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
        response = json_response({"status": "signed_out"})
        response.delete_cookie(
            self._cookie_name(request), path="/", secure=self._secure(request), httponly=True, samesite="strict"
        )
        return response

    async def dev_mail(self, request: Request) -> Response:
        if not is_local(self.settings):
            raise NotFound(f"Unknown route: {request.method} {request.url.path}", code="unknown_route")
        svc = await self._svc()
        return json_response({"object": "list", "data": await self._run(self._store(svc).recent_mail)})
