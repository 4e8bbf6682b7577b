"""`GET /v1/models` and `GET /v1/models/{id}`: the configured models, in OpenAI's shape, or in Anthropic's
when the request carries `anthropic-version` (as Anthropic's API and Claude Code expect)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tollway_local.mock.errors import MockHTTPError, bad_request
from tollway_local.mock.responses import JSONResult

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

#: A fixed creation time keeps the answer deterministic.
MODEL_CREATED = 1_700_000_000
ID_PATTERN = re.compile(r"/models/(?P<id>[^/]+)$")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def _openai_model(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": "mock"}


def _anthropic_model(model: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model,
        "display_name": model.replace("-", " ").title(),
        "created_at": datetime.fromtimestamp(MODEL_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_input_tokens": 1_000_000,
        "max_tokens": 128_000,
    }


def _query(req: MockRequest) -> dict[str, str]:
    raw = req.scope.get("query_string", b"").decode("latin-1")
    pairs = (part.partition("=") for part in raw.split("&") if part)
    return {name: value for name, _, value in pairs}


async def list_models(req: MockRequest) -> ASGIApp:
    if req.record.dialect != "anthropic":
        data = [_openai_model(m) for m in req.config.models]
        return JSONResult(req, {"object": "list", "data": data})
    query = _query(req)
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit: Input should be between 1 and {MAX_LIMIT}", param="limit")
    models = list(req.config.anthropic_models)
    if "after_id" in query and query["after_id"] in models:
        models = models[models.index(query["after_id"]) + 1 :]
    elif "before_id" in query and query["before_id"] in models:
        models = models[: models.index(query["before_id"])][-limit:]
    page = models[:limit]
    return JSONResult(
        req,
        {
            "data": [_anthropic_model(m) for m in page],
            "has_more": len(models) > limit,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        },
    )


async def get_model(req: MockRequest) -> ASGIApp:
    match = ID_PATTERN.search(req.path.rstrip("/"))
    model = match.group("id") if match else ""
    anthropic = req.record.dialect == "anthropic"
    known = req.config.anthropic_models if anthropic else req.config.models
    if model not in known:
        raise MockHTTPError(404, f"model: {model}" if anthropic else f"The model '{model}' does not exist")
    return JSONResult(req, _anthropic_model(model) if anthropic else _openai_model(model))
