"""`POST /v1/images/generations` (JSON), `/v1/images/edits` and `/v1/images/variations` (multipart).

Answers follow the reference (§3.4): `{created, data: [{b64_json | url, revised_prompt?}], background,
output_format, quality, size, usage}`; streams send `image_generation.partial_image` ×
`partial_images` then `image_generation.completed` (with its image's `usage`) per image — `image_edit.*`
for edits — each with an `event:` line, and no `[DONE]`. Usage follows `image_usage` (docs/images.md).

Prompt markers: `[[moderation]]` refuses as OpenAI's safety system does (400
`image_generation_user_error` / `moderation_blocked`); `[[noise]]` fills the pictures with random pixels
(large answers); `[[prompt=N]]` sets the text tokens. In multipart bodies only the path and the
`X-Mock-Fault` header select faults (the dispatcher reads markers from JSON bodies only).
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from tollway_local.mock.errors import MockHTTPError, bad_request
from tollway_local.mock.image_usage import ImagePlan, plan_images
from tollway_local.mock.pictures import picture_b64, seed_of
from tollway_local.mock.responses import POST, TOKEN, USAGE, Event, EventStream, JSONResult

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from tollway_local.mock.context import MockRequest

__all__ = ["fault_texts", "image_edits", "image_generations", "image_variations"]

MODERATION_MARKER = "[[moderation]]"
NOISE_MARKER = "[[noise]]"


def fault_texts(body: Any) -> list[str]:
    """`[[fault:MODE]]` markers are read from the prompt."""
    prompt = body.get("prompt") if isinstance(body, dict) else None
    return [prompt] if isinstance(prompt, str) else []


def moderation_blocked() -> MockHTTPError:
    error = MockHTTPError(
        400,
        "Your request was rejected by the safety system. If you believe this is an error, contact us at "
        "help.openai.com and include the request ID.",
        "image_generation_user_error",
        "moderation_blocked",
    )
    error.body["error"]["moderation_details"] = {"moderation_stage": "input", "categories": ["mock-category"]}
    return error


@dataclass
class _Call:
    """One image request, whatever its wire format."""

    kind: str  # "image_generation" or "image_edit"
    model: str
    prompt: str
    n: int
    size: str | None
    quality: str | None
    stream: bool
    partial_images: int
    output_format: str
    response_format: str | None
    background: str | None
    inputs: list[tuple[int, int]] = field(default_factory=list)


def _int(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
        raise bad_request(f"Invalid '{name}': expected an integer between {low} and {high}.", param=name)
    return number


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _call(kind: str, fields: dict[str, Any], default_model: str) -> _Call:
    prompt = fields.get("prompt")
    if kind != "variation" and (not isinstance(prompt, str) or not prompt):
        raise bad_request("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    model = fields.get("model") or default_model
    stream = _bool(fields.get("stream"))
    return _Call(
        kind="image_edit" if kind == "edit" else "image_generation",
        model=str(model),
        prompt=prompt if isinstance(prompt, str) else "",
        n=_int(fields.get("n"), "n", 1, 1, 10),
        size=fields.get("size"),
        quality=fields.get("quality"),
        stream=stream,
        partial_images=_int(fields.get("partial_images"), "partial_images", 0, 0, 3) if stream else 0,
        output_format=str(fields.get("output_format") or "png"),
        response_format=fields.get("response_format"),
        background=fields.get("background"),
    )


async def image_generations(req: MockRequest) -> ASGIApp:
    return _answer(req, _call("generation", req.body, "dall-e-2"))


async def _form(req: MockRequest) -> tuple[dict[str, Any], list[tuple[str, str | None, str | None, bytes]]]:
    """The form's fields, and its files as (name, filename, content type, bytes)."""

    async def body() -> AsyncGenerator[bytes, None]:
        yield req.raw_body

    try:
        form = await MultiPartParser(Headers(req.headers), body(), max_part_size=1_000_000).parse()
    except MultiPartException as exc:
        raise bad_request(f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None
    fields: dict[str, Any] = {}
    files: list[tuple[str, str | None, str | None, bytes]] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
            else:
                files.append((name, value.filename, value.content_type, await value.read()))
    finally:
        await form.close()
    return fields, files


async def _multipart(req: MockRequest, kind: str, default_model: str) -> ASGIApp:
    if not req.headers.get("content-type", "").startswith("multipart/form-data"):
        raise bad_request("Expected a multipart/form-data body.", code="invalid_content_type")
    fields, files = await _form(req)
    call = _call(kind, fields, default_model)
    logged: list[dict[str, Any]] = []
    for name, filename, content_type, data in files:
        logged.append({"name": name, "filename": filename, "content_type": content_type, "bytes": len(data)})
        if name in ("image", "image[]"):
            size = _dimensions(data)
            if size is None:
                raise bad_request(f"Invalid image file '{filename}'.", param="image", code="invalid_image_format")
            call.inputs.append(size)
    if not call.inputs:
        raise bad_request("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    req.record.body = {"fields": fields, "files": logged}
    return _answer(req, call)


def _dimensions(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size if image.format in ("PNG", "JPEG", "WEBP") else None
    except (UnidentifiedImageError, OSError):
        return None


async def image_edits(req: MockRequest) -> ASGIApp:
    return await _multipart(req, "edit", "gpt-image-1.5")


async def image_variations(req: MockRequest) -> ASGIApp:
    return await _multipart(req, "variation", "dall-e-2")


def _picture(call: _Call, plan: ImagePlan, index: int, partial: int | None = None) -> str:
    fmt = "png" if plan.family.startswith("dall-e") else call.output_format
    return picture_b64(
        seed_of(call.model, call.prompt, str(index)),
        plan.width,
        plan.height,
        fmt,
        NOISE_MARKER in call.prompt,
        partial,
        call.partial_images,
        call.background == "transparent",
    )


def _answer(req: MockRequest, call: _Call) -> ASGIApp:
    if MODERATION_MARKER in call.prompt:
        raise moderation_blocked()
    plan = plan_images(
        call.model, call.prompt, n=call.n, size=call.size, quality=call.quality, input_sizes=tuple(call.inputs)
    )
    req.record.tokens_planned = call.n * call.partial_images
    if call.stream:
        if plan.family.startswith("dall-e"):
            raise bad_request("Streaming is only supported for GPT Image models.", param="stream")
        usage = None if req.faults.no_usage else plan.usage(details=False)
        return EventStream(req, _events(req, call, plan), total_tokens=call.n * call.partial_images, usage=usage)
    payload = _payload(req, call, plan)
    return JSONResult(req, payload, delay_s=req.pacing.latency_s, usage=payload.get("usage"))


def _payload(req: MockRequest, call: _Call, plan: ImagePlan) -> dict[str, Any]:
    created = int(time.time())
    data: list[dict[str, Any]] = []
    for index in range(call.n):
        if plan.family.startswith("dall-e") and call.response_format != "b64_json":
            item: dict[str, Any] = {"url": f"https://files.mock.invalid/{req.request_id}-{index}.png"}
        else:
            item = {"b64_json": _picture(call, plan, index)}
        if plan.family == "dall-e-3":
            item["revised_prompt"] = call.prompt
        data.append(item)
    payload: dict[str, Any] = {"created": created, "data": data}
    if not plan.family.startswith("dall-e"):
        payload.update(
            background="transparent" if call.background == "transparent" else "opaque",
            output_format=call.output_format,
            quality=plan.quality,
            size=plan.size,
        )
        usage = plan.usage()
        if usage is not None and not req.faults.no_usage:
            payload["usage"] = usage
    return payload


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **payload}) + b"\n\n"


def _events(req: MockRequest, call: _Call, plan: ImagePlan) -> Iterator[Event]:
    """Per image: its partial images (one TOKEN step each), then its completed event with its usage."""
    if req.faults.empty_stream:
        return
    created = int(time.time())
    common = {
        "created_at": created,
        "size": plan.size,
        "quality": plan.quality,
        "background": "transparent" if call.background == "transparent" else "opaque",
        "output_format": call.output_format,
    }
    step = 0
    for index in range(call.n):
        for partial in range(call.partial_images):
            body = {"b64_json": _picture(call, plan, index, partial), **common, "partial_image_index": partial}
            yield (TOKEN, step, _event(f"{call.kind}.partial_image", body))
            step += 1
        completed: dict[str, Any] = {"b64_json": _picture(call, plan, index), **common}
        usage = None if req.faults.no_usage else plan.usage(1, details=False)
        if usage is not None:
            completed["usage"] = usage
        yield (
            USAGE if index == call.n - 1 and usage is not None else POST,
            0,
            _event(f"{call.kind}.completed", completed),
        )
