"""`GET /v1/models`: the configured model list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway_local.mock.responses import JSONResult

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

#: A fixed creation time keeps the answer deterministic.
MODEL_CREATED = 1_700_000_000


async def list_models(req: MockRequest) -> ASGIApp:
    data = [{"id": m, "object": "model", "created": MODEL_CREATED, "owned_by": "mock"} for m in req.config.models]
    return JSONResult(req, {"object": "list", "data": data})
