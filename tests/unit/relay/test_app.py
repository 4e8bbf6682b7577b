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


def _routes(app: object) -> set[tuple[str, str]]:
    from starlette.routing import Route

    return {
        (route.path, method)
        for route in app.router.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in route.methods or ()
    }


def test_every_customer_route_is_served_with_and_without_v1() -> None:
    """README: "Every route works with and without /v1" — enumerated from the app itself."""
    app = create_app(Settings(), LazyServices(_unused))  # type: ignore[arg-type]
    routes = _routes(app)
    checked = 0
    for path, method in routes:
        if path in ("/healthz", "/", "/console") or path.startswith("/console/"):
            continue  # health and the customer console's pages: not API routes (docs/console.md)
        if path.startswith("/v1/"):
            assert (path[3:], method) in routes, f"{method} {path} has no twin without /v1"
        elif path.startswith("/mj/"):  # Midjourney's "/{prefix}/mj/…" takes /v1 and the mode prefixes
            assert ("/{prefix}" + path, method) in routes
        elif not path.startswith("/{prefix}/"):
            assert ("/v1" + path, method) in routes, f"{method} {path} has no twin under /v1"
        checked += 1
    assert checked > 50
    for must in (
        "/v1/api/usage/logs",
        "/v1/api/redeem",
        "/v1/api/pricing",
        "/v1/api/usage/token",
        "/v1/suno/{rest:path}",
    ):
        assert any(path == must for path, _ in routes), must


def test_local_only_routes_get_no_v1_twin() -> None:
    """The local stand-ins for API Gateway's admin and callback routes stay where API Gateway has them."""
    from starlette.responses import Response
    from starlette.routing import Route

    async def admin(request: object) -> Response:
        return Response(b"")

    extra = [Route("/admin/{command}", admin, methods=["POST"])]
    app = create_app(Settings(), LazyServices(_unused), extra_routes=extra)  # type: ignore[arg-type]
    paths = {path for path, _ in _routes(app)}
    assert "/admin/{command}" in paths and "/v1/admin/{command}" not in paths


def test_the_lifespan_sizes_the_store_thread_pool_from_the_settings() -> None:
    """Volume mode holds hundreds of requests in one process; their store calls wait in these threads."""
    app = create_app(Settings(store_threads=300), LazyServices(_unused))  # type: ignore[arg-type]

    async def during() -> float:
        async with app.router.lifespan_context(app):
            return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert anyio.run(during) == 300


def test_the_upstream_pool_holds_as_many_streams_as_the_settings_allow() -> None:
    from tollway.upstream.client import UpstreamClient

    client = UpstreamClient(Settings(upstream_max_connections=2048, upstream_max_keepalive=512))
    pool = client._http()._transport._pool  # type: ignore[attr-defined]
    assert (pool._max_connections, pool._max_keepalive_connections) == (2048, 512)
    anyio.run(client.aclose)


def test_the_lifespan_closes_the_store_connections_it_kept_on_the_loop() -> None:
    """A bridged store call leaves its kept-alive connection in the loop's pool; shutdown closes it."""
    import threading
    from types import SimpleNamespace

    from botocore.credentials import Credentials
    from tollway.bridge import run_bridged
    from tollway.dynamo_wire import WireClient

    from tests.unit.tollway.test_dynamo_wire import Scripted, _boto

    server = Scripted()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wire = WireClient(_boto(server.url), Credentials("AKID", "secret", None))
    services = LazyServices(lambda: SimpleNamespace(ledger=SimpleNamespace(client=wire)))  # type: ignore[arg-type,return-value]
    services.get()
    app = create_app(Settings(), services)

    async def during() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            await run_bridged(lambda: wire.get_item(TableName="t", Key={"k": {"S": "1"}}))
            kept = wire.loop_connection.idle_count()
        left = wire.loop_connection.idle_count()
        await wire.aclose()  # whatever the lifespan left, so that the loop can close
        return kept, left

    try:
        assert anyio.run(during, backend_options={"use_uvloop": True}) == (1, 0)
    finally:
        wire.close()
        server.shutdown()
        server.server_close()
