"""Per-client-address limits of the console's sign-up and sign-in, on the in-memory stores (one address:
the test client's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from relay.app import create_app
from starlette.testclient import TestClient
from tollway.memory.backend import MemoryBackend
from tollway.services import LazyServices, Services
from tollway.settings import Settings

HEADERS = {"X-Tollway-Console": "1"}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        console_argon2_memory_kib=8192,
        console_argon2_time_cost=1,
        console_signup_ip_limit=2,
        console_signin_ip_limit=3,
    )
    services = Services.in_memory(settings, MemoryBackend())
    with TestClient(create_app(settings, LazyServices(lambda: services)), base_url="http://localhost") as http:
        yield http


def test_sign_ups_from_one_address_are_limited_whatever_the_e_mail(client: TestClient) -> None:
    answers = [
        client.post("/console/api/signup", json={"email": f"u{n}@example.com", "password": PASSWORD}, headers=HEADERS)
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "too_many_attempts"
    assert (
        client.post(
            "/console/api/signin", json={"email": "u2@example.com", "password": PASSWORD}, headers=HEADERS
        ).status_code
        == 401
    )


def test_sign_ins_from_one_address_are_limited_across_e_mails(client: TestClient) -> None:
    codes = [
        client.post(
            "/console/api/signin", json={"email": f"x{n}@example.com", "password": PASSWORD}, headers=HEADERS
        ).status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]
