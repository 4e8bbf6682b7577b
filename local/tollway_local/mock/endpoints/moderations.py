"""`POST /v1/moderations`: one result per input (a string, strings, or text/image parts). An input is
flagged when its text contains `[[flag]]` (category "harassment"). Moderation answers carry no usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tollway_local.mock.errors import bad_request
from tollway_local.mock.responses import JSONResult

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

__all__ = ["CATEGORIES", "fault_texts", "moderations"]

#: Every category OpenAI reports (its OpenAPI description requires all of them in each result).
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
#: Categories whose score also covers images (the others are scored on text only).
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            out.append(item["text"])
    return out


def fault_texts(body: Any) -> Iterable[str]:
    return _texts(body.get("input")) if isinstance(body, dict) else []


async def moderations(req: MockRequest) -> ASGIApp:
    body = req.body
    value = body.get("input")
    if value is None:
        raise bad_request("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    multimodal = isinstance(value, list) and any(isinstance(v, dict) for v in value)
    inputs = [" ".join(_texts(value))] if multimodal else _texts(value)
    images = multimodal and any(isinstance(v, dict) and v.get("type") == "image_url" for v in value)
    results = []
    for text in inputs:
        flagged = "[[flag]]" in text
        results.append(
            {
                "flagged": flagged,
                "categories": {c: flagged and c == "harassment" for c in CATEGORIES},
                "category_scores": {c: 0.99 if flagged and c == "harassment" else 0.001 for c in CATEGORIES},
                "category_applied_input_types": {
                    c: ["text", "image"] if images and c in IMAGE_CATEGORIES else ["text"] for c in CATEGORIES
                },
            }
        )
    model = body.get("model") or "omni-moderation-latest"
    payload = {"id": f"modr-{req.request_id}", "model": model, "results": results}
    return JSONResult(req, payload, delay_s=req.pacing.latency_s)
