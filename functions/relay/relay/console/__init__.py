"""The customer console, served by the relay itself (docs/console.md).

Only this module is imported when the app is built: it declares the routes. Each handler imports
``relay.console.api`` (and through it argon2, pydantic models, the admin commands it reuses) on its
first call, so a relay that only relays never pays for the console at cold start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from tollway.settings import Settings

    from relay.console.api import ConsoleApi
    from relay.pipeline import Pipeline

__all__ = ["console_routes"]

Handler = Callable[[Request], Awaitable[Response]]

# (method, path, ConsoleApi method name)
_API: tuple[tuple[str, str, str], ...] = (
    ("GET", "/console/api/config", "config"),
    ("POST", "/console/api/signup", "signup"),
    ("POST", "/console/api/signin", "signin"),
    ("POST", "/console/api/signout", "signout"),
    ("GET", "/console/api/verify", "verify"),
    ("GET", "/console/api/me", "me"),
    ("GET", "/console/api/dashboard", "dashboard"),
    ("GET", "/console/api/keys", "list_keys"),
    ("POST", "/console/api/keys", "create_key"),
    ("POST", "/console/api/keys/{key_id}", "update_key"),
    ("POST", "/console/api/keys/{key_id}/disable", "disable_key"),
    ("POST", "/console/api/keys/{key_id}/enable", "enable_key"),
    ("DELETE", "/console/api/keys/{key_id}", "delete_key"),
    ("GET", "/console/api/usage", "usage"),
    ("GET", "/console/api/usage.csv", "usage_csv"),
    ("GET", "/console/api/credits", "credits"),
    ("POST", "/console/api/redeem", "redeem"),
    ("GET", "/console/api/models", "models"),
    ("GET", "/console/api/dev/mail", "dev_mail"),
)


def console_routes(pipeline: Pipeline, settings: Settings) -> list[BaseRoute]:
    """The console's pages, assets and JSON API (none when ``TOLLWAY_CONSOLE_ENABLED`` is false)."""
    if not settings.console_enabled:
        return []
    holder: list[ConsoleApi] = []

    def api() -> ConsoleApi:
        if not holder:
            from relay.console.api import ConsoleApi

            holder.append(ConsoleApi(pipeline, settings))
        return holder[0]

    def bind(name: str) -> Handler:
        async def handler(request: Request) -> Response:
            method: Handler = getattr(api(), name)
            return await method(request)

        handler.__name__ = name
        return handler

    async def page(request: Request) -> Response:
        from relay.console.web import index_page

        return index_page(request)

    async def asset(request: Request) -> Response:
        from relay.console.web import static_asset

        return static_asset(request, request.path_params["name"])

    routes: list[BaseRoute] = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/console", page, methods=["GET", "HEAD"]),
        Route("/console/static/{name}", asset, methods=["GET", "HEAD"]),
    ]
    routes += [Route(path, bind(name), methods=[method]) for method, path, name in _API]
    return routes
