"""Console logins and their accounts (in-memory stores): the sign-up credit once even when the account
was never opened, and a disabled account is shut out of the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from relay.app import create_app
from starlette.testclient import TestClient
from tollway.accounts.model import AccountStatus
from tollway.console.passwords import Passwords
from tollway.console.store import Login, console_store
from tollway.memory.backend import MemoryBackend
from tollway.services import LazyServices, Services
from tollway.settings import Settings

HEADERS = {"X-Tollway-Console": "1"}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def world() -> Iterator[tuple[TestClient, Services]]:
    settings = Settings(console_argon2_memory_kib=8192, console_argon2_time_cost=1)
    services = Services.in_memory(settings, MemoryBackend())
    with TestClient(create_app(settings, LazyServices(lambda: services)), base_url="http://localhost") as http:
        yield http, services


def test_a_login_whose_account_was_never_opened_gets_it_with_the_credit_once(
    world: tuple[TestClient, Services],
) -> None:
    http, svc = world
    # A sign-up that stopped between claiming the login and opening the account.
    hashed = Passwords(memory_kib=8192, time_cost=1).hash(PASSWORD)
    console_store(svc).create_login(Login("crash@example.com", "acct_crash0001", hashed, True, 1))
    assert svc.accounts.get_account("acct_crash0001") is None
    for _ in range(2):
        answer = http.post(
            "/console/api/signin", json={"email": "crash@example.com", "password": PASSWORD}, headers=HEADERS
        )
        assert answer.status_code == 200
    assert svc.ledger.balance("acct_crash0001") == 200_000
    assert svc.ledger.audit("acct_crash0001").entries == 1


def test_a_disabled_account_is_refused_by_the_console(world: tuple[TestClient, Services]) -> None:
    http, svc = world
    signed_up = http.post("/console/api/signup", json={"email": "d@example.com", "password": PASSWORD}, headers=HEADERS)
    account_id = http.get("/console/api/me").json()["account_id"]
    csrf = signed_up.json()["csrf"]
    svc.accounts.set_account_status(account_id, AccountStatus.DISABLED)
    me = http.get("/console/api/me")
    assert me.status_code == 403 and me.json()["error"]["code"] == "account_disabled"
    created = http.post("/console/api/keys", json={"name": "x"}, headers={**HEADERS, "X-CSRF-Token": csrf})
    assert created.status_code == 403 and svc.accounts.list_keys(account_id) == []
    again = http.post("/console/api/signin", json={"email": "d@example.com", "password": PASSWORD}, headers=HEADERS)
    assert again.status_code == 403
