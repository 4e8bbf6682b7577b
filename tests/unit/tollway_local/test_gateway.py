"""The local stack's admin route refuses a missing or wrong admin secret with the admin envelope and
status from the admin table (one table for every admin transport), before the command runs."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient
from tollway_local.gateway import local_routes


def test_a_wrong_admin_secret_gets_the_admin_envelope_and_401_and_runs_nothing() -> None:
    ran: list[Any] = []
    app = Starlette(routes=local_routes("right-secret", lambda *a: ran.append(a), lambda *a: ran.append(a)))
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": "Basic right-secret"}):
            answer = client.post("/admin/account.list", json={}, headers=headers)
            assert answer.status_code == 401
            assert answer.json() == {
                "ok": False,
                "command": "account.list",
                "error": {"code": "unauthorized", "message": "Missing or wrong admin secret."},
            }
    assert ran == []
