"""The console inside the relay app: declared at build time, imported on first use, switchable off."""

from __future__ import annotations

import subprocess
import sys

from relay.app import create_app
from starlette.routing import Route
from tollway.services import LazyServices
from tollway.settings import Settings


def _unused() -> object:
    raise AssertionError("no request is served here")


def test_building_the_relay_does_not_import_the_console_api() -> None:
    code = (
        "import sys; from relay.app import create_app; from tollway.services import LazyServices; "
        "from tollway.settings import Settings; create_app(Settings(), LazyServices(lambda: None)); "
        "heavy = [m for m in ('relay.console.api', 'argon2', 'tollway.admin.commands', 'relay.console.web') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_console_can_be_turned_off() -> None:
    on = create_app(Settings(), LazyServices(_unused))  # type: ignore[arg-type]
    off = create_app(Settings(console_enabled=False), LazyServices(_unused))  # type: ignore[arg-type]
    paths_on = {r.path for r in on.routes if isinstance(r, Route)}
    paths_off = {r.path for r in off.routes if isinstance(r, Route)}
    assert {"/", "/console/api/signin", "/console/static/{name}"} <= paths_on
    assert not {p for p in paths_off if p == "/" or p.startswith("/console")}
