"""The console's own local stack (its switches are stack-wide, so other suites never see them change)
and an HTTP client that behaves like the console's page (cookie jar, CSRF header)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import LocalStack

PASSWORD = "correct horse battery staple"
CONSOLE_ENV = {
    # Cheaper argon2 and roomier per-address limits: every test signs up from 127.0.0.1.
    "TOLLWAY_CONSOLE_ARGON2_MEMORY_KIB": "8192",
    "TOLLWAY_CONSOLE_ARGON2_TIME_COST": "1",
    "TOLLWAY_CONSOLE_SIGNUP_IP_LIMIT": "500",
    "TOLLWAY_CONSOLE_SIGNIN_IP_LIMIT": "500",
    "TOLLWAY_MOCK_TOKENS_PER_S": "40",  # a visible stream in the browser test
}


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("tollway-console-state")
    local = LocalStack(state, env=CONSOLE_ENV).start()
    try:
        yield local
    finally:
        local.stop()


@dataclass
class Visitor:
    """A browser-like client of the console API."""

    http: httpx.Client
    csrf: str | None = None
    email: str = ""
    account_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, csrf: bool = True) -> dict[str, str]:
        out = {"X-Tollway-Console": "1"}
        if csrf and self.csrf:
            out["X-CSRF-Token"] = self.csrf
        return out

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.post(f"/console/api/{path}", json=body, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/console/api/{path}", **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.delete(f"/console/api/{path}", headers=headers, **kwargs)

    def signup(self, email: str | None = None, password: str = PASSWORD, **extra: Any) -> httpx.Response:
        self.email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = self.post("signup", {"email": self.email, "password": password, **extra})
        if response.status_code == 200:
            self.csrf = response.json()["csrf"]
            self.account_id = self.get("me").json()["account_id"]
        return response


@pytest.fixture
def visitor(console_stack: LocalStack) -> Iterator[Visitor]:
    with httpx.Client(base_url=console_stack.url, timeout=30) as http:
        yield Visitor(http)


@pytest.fixture
def new_visitor(console_stack: LocalStack) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make() -> Visitor:
        http = httpx.Client(base_url=console_stack.url, timeout=30)
        clients.append(http)
        return Visitor(http)

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def customer(visitor: Visitor) -> Visitor:
    """A signed-up, signed-in customer."""
    response = visitor.signup()
    assert response.status_code == 200, response.text
    return visitor


@pytest.fixture
def switches(console_stack: LocalStack) -> Iterator[Any]:
    """Change the console's operator switches for one test; the previous ones come back after it."""
    before = console_stack.admin("console.settings")
    yield lambda **changes: console_stack.admin("console.settings", **changes)
    restore = {k: ("" if v is None else v) for k, v in before.items()}
    console_stack.admin("console.settings", **restore)
