"""The console as it runs behind API Gateway (stage path, https, SES), on the in-memory stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from relay.app import create_app
from starlette.testclient import TestClient
from tollway.console.options import ConsoleOptions, save_options
from tollway.memory.backend import MemoryBackend
from tollway.services import LazyServices, Services
from tollway.settings import Settings

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
HEADERS = {"X-Tollway-Console": "1", "X-Forwarded-Proto": "https", "Origin": f"https://{HOST}"}


class FakeSes:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": "m-1"}


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> FakeSes:
    fake = FakeSes()

    class Session:
        def client(self, name: str, **_: Any) -> FakeSes:
            assert name == "sesv2"
            return fake

    monkeypatch.setattr(boto3.session, "Session", Session)
    return fake


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        stage="live",
        console_mail_from="no-reply@acme.example",
        console_argon2_memory_kib=8192,
        console_argon2_time_cost=1,
    )
    services = Services.in_memory(settings, MemoryBackend())
    save_options(services.config, ConsoleOptions(email_verification=True))
    with TestClient(create_app(settings, LazyServices(lambda: services)), base_url=f"http://{HOST}") as http:
        yield http


def test_verification_mail_goes_through_ses_with_a_link_under_the_stage(client: TestClient, ses: FakeSes) -> None:
    answer = client.post(
        "/console/api/signup", json={"email": "new@acme.example", "password": "correct horse battery"}, headers=HEADERS
    )
    assert answer.status_code == 202 and "set-cookie" not in answer.headers
    (mail,) = ses.sent
    assert mail["FromEmailAddress"] == "no-reply@acme.example"
    assert mail["Destination"] == {"ToAddresses": ["new@acme.example"]}
    body = mail["Content"]["Simple"]["Body"]["Text"]["Data"]
    link = next(word for word in body.split() if "verify?token=" in word)
    assert link.startswith(f"https://{HOST}/live/console/api/verify?token=vfy-")
    assert client.get("/console/api/dev/mail").status_code == 404  # the outbox page is local-only
    followed = client.get(link.replace(f"https://{HOST}/live", ""), headers=HEADERS, follow_redirects=False)
    assert followed.headers["location"] == f"https://{HOST}/live/#/signin?verified=1"
    signed_in = client.post(
        "/console/api/signin", json={"email": "new@acme.example", "password": "correct horse battery"}, headers=HEADERS
    )
    cookie = signed_in.headers["set-cookie"]
    assert signed_in.status_code == 200 and cookie.startswith("__Host-tollway_session=")
    assert "secure" in cookie.lower() and "httponly" in cookie.lower() and "path=/" in cookie.lower()
