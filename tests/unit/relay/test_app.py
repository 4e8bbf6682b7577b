"""relay.app: what the app's lifespan sets up for the process."""

from __future__ import annotations

import sys

import anyio
import pytest
from relay.app import create_app
from tollway.services import LazyServices
from tollway.settings import Settings


def _unused() -> object:
    raise AssertionError("no request is served here")


@pytest.mark.parametrize(("ms", "expected"), [(2.0, 0.002), (0.0, None)])
def test_the_lifespan_sets_the_gil_switch_interval_unless_told_not_to(ms: float, expected: float | None) -> None:
    before = sys.getswitchinterval()
    app = create_app(Settings(gil_switch_interval_ms=ms), LazyServices(_unused))  # type: ignore[arg-type]

    async def during() -> float:
        async with app.router.lifespan_context(app):
            return sys.getswitchinterval()

    try:
        inside = anyio.run(during)
        assert inside == pytest.approx(expected if expected is not None else before)
    finally:
        sys.setswitchinterval(before)
