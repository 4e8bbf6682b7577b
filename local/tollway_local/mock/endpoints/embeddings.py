"""`POST /v1/embeddings`: deterministic vectors (float or base64), usage per
`surface_usage.embedding_tokens`. A vector has `dimensions` numbers (default 16: small answers) derived
from the SHA-256 of its input."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.errors import bad_request
from tollway_local.mock.responses import JSONResult
from tollway_local.mock.surface_usage import embedding_tokens

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

__all__ = ["DEFAULT_DIMENSIONS", "embeddings", "fault_texts", "vector_for"]

DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 3072


def fault_texts(body: Any) -> Iterable[str]:
    value = body.get("input") if isinstance(body, dict) else None
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def vector_for(item: Any, dimensions: int) -> list[float]:
    """The mock's embedding of one input: numbers in [-1, 1) from a hash chain of its JSON."""
    seed = hashlib.sha256(orjson.dumps(item)).digest()
    out: list[float] = []
    while len(out) < dimensions:
        seed = hashlib.sha256(seed).digest()
        out.extend(v / 32768 for v in struct.unpack("<16h", seed))
    return out[:dimensions]


async def embeddings(req: MockRequest) -> ASGIApp:
    body = req.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", param="model", code="missing_required_parameter")
    if "input" not in body:
        raise bad_request("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    value = body["input"]
    tokens = embedding_tokens(value)
    items = value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        # OpenAI refuses more dimensions than the model has (3,072 for text-embedding-3-large).
        raise bad_request("Invalid 'dimensions'.", param="dimensions", code="invalid_value")
    fmt = body.get("encoding_format") or "float"
    data = []
    for i, item in enumerate(items):
        vector = vector_for(item, dimensions)
        encoded: Any = vector
        if fmt == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    total = sum(tokens)
    payload: dict[str, Any] = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }
    if req.faults.no_usage:
        del payload["usage"]
    return JSONResult(req, payload, delay_s=req.pacing.latency_s, usage=payload.get("usage"))
