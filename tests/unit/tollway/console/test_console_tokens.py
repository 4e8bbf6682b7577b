"""Session cookies and CSRF tokens (pure): signed, bound to their session, expiring."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tollway.console.options import ConsoleOptions, load_options, save_options
from tollway.console.passwords import Passwords, check_password_rules
from tollway.console.tokens import SessionSigner
from tollway.errors import InvalidRequest
from tollway.exports import COLUMNS, CUSTOMER_COLUMNS
from tollway.settings import Settings

from tests.support.factories import memory_stores
from tests.unit.admin.helpers import services_of


def test_a_session_cookie_round_trips_and_resists_tampering() -> None:
    signer = SessionSigner(b"master")
    cookie, session = signer.issue("acct_a", now_s=100, ttl_s=60)
    assert signer.read(cookie, 120) == session
    assert signer.read(cookie, 160) is None  # expired
    body, mac = cookie.split(".")
    assert signer.read(f"{body}x.{mac}", 120) is None
    # The MAC's first character carries six whole bits (the last only a few): change it for another.
    assert signer.read(f"{body}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}", 120) is None
    assert SessionSigner(b"other master").read(cookie, 120) is None
    for junk in ("", "a.b.c", "x" * 2000, "bm90IGpzb24.AAAA"):
        assert signer.read(junk, 120) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    signer = SessionSigner(b"master")
    _, one = signer.issue("acct_a", 1, 60)
    _, two = signer.issue("acct_a", 1, 60)
    assert signer.csrf_ok(one, signer.csrf(one))
    assert not signer.csrf_ok(one, signer.csrf(two))
    assert not signer.csrf_ok(one, None) and not signer.csrf_ok(one, "")


def test_passwords_hash_with_argon2id_and_an_unknown_login_is_still_verified() -> None:
    passwords = Passwords(memory_kib=8192, time_cost=1)
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "wrong horse battery")
    assert not passwords.verify(None, "correct horse battery")
    assert not passwords.verify("not a hash", "x")
    with pytest.raises(InvalidRequest) as short:
        check_password_rules("short", "a@example.com")
    assert (short.value.code, short.value.param) == ("weak_password", "password")
    with pytest.raises(InvalidRequest):
        check_password_rules("A@Example.com", "a@example.com")
    check_password_rules("long enough password", "a@example.com")


def test_an_unknown_login_costs_the_same_argon2_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = Passwords(memory_kib=8192, time_cost=1)
    stored = passwords.hash("correct horse battery")
    hasher = passwords._get()
    calls: list[str] = []
    real = type(hasher).verify

    def counting(self: object, hash: str, password: str) -> bool:
        calls.append(hash)
        return bool(real(self, hash, password))  # type: ignore[arg-type]

    monkeypatch.setattr(type(hasher), "verify", counting)
    passwords.verify(None, "guess one")
    passwords.verify(stored, "guess two")
    assert len(calls) == 2 and all(c.startswith("$argon2id$v=19$m=8192,t=1") for c in calls)


def test_options_are_the_stored_document_over_the_settings() -> None:
    svc = services_of(memory_stores())
    settings = Settings(console_signup="closed", console_site_name="Acme")
    assert load_options(svc.config, settings) == ConsoleOptions(signup="closed", site_name="Acme")
    save_options(svc.config, ConsoleOptions(signup="invite", currency_symbol="¥", currency_rate="7.20"))
    loaded = load_options(svc.config, settings)
    assert (loaded.signup, loaded.currency_rate, loaded.site_name) == ("invite", "7.2", "tollway")
    for bad in ({"logo_url": "javascript:alert(1)"}, {"logo_url": "//evil.example/x.png"}, {"currency_rate": "-1"}):
        with pytest.raises(ValidationError):
            ConsoleOptions.model_validate(bad)


def test_a_customers_csv_leaves_out_the_operators_columns() -> None:
    assert set(CUSTOMER_COLUMNS) < set(COLUMNS)
    assert not {"channel_id", "upstream_model", "hold", "group"} & set(CUSTOMER_COLUMNS)
    assert {"cached_tokens", "cache_write_tokens", "charge_usd", "task_id"} <= set(CUSTOMER_COLUMNS)
