"""``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations`` (multipart).

Every parameter the client sends is passed upstream unchanged (unknown new ones too); only ``model``
is replaced by the channel's name for it. The relay reads just what bounds the cost: ``n``, ``size``,
``quality``, ``partial_images``, GIF frames, the prompt and the input images. Answers leave through the
byte path (non-streaming: multi-megabyte ``b64_json`` bodies, bounded memory) or the SSE path
(``stream: true``: partial and completed image events as they arrive). See docs/images.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tollway.errors import InvalidRequest
from tollway.metering.images_billing import (
    ImageRequest,
    image_budget,
    image_variant,
    output_tokens_per_image,
    usage_from_images,
)
from tollway.metering.images_meters import Estimator, ImagesByteMeter, image_estimator, images_stream_meter
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.settings import Settings
from tollway.vision import image_model_input_bound

from relay.endpoints.base import (
    BodyKind,
    EndpointHooks,
    EndpointSpec,
    Prepared,
    RequestBody,
    ResponseMode,
    UpstreamBody,
)
from relay.multipart import FilePart, Form, encode_multipart

if TYPE_CHECKING:
    from relay.pipeline import Pipeline

__all__ = ["ImageEdits", "ImageGenerations", "ImageVariations", "image_routes"]

MAX_INPUT_IMAGES = 16  # OpenAI's limit for GPT Image edits
MAX_N = 10
MAX_PARTIAL_IMAGES = 3
_TEXT_OVERHEAD = 64  # tokens OpenAI adds around an image prompt (measured: 6) — generously
_IMAGE_FIELDS = ("image", "image[]")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def _sniff(data: bytes) -> str | None:
    """The real type of an uploaded image (PNG, JPEG or WebP), whatever its part claims."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _int(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be an integer between {low} and {high}.", param=name, code="invalid_value")
    return value


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidRequest(f"'{name}' must be a boolean.", param=name, code="invalid_type")


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name, code="invalid_type")
    return value


def _prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("'prompt' is required and must be a non-empty string.", param="prompt")
    return value


def _frames(output_format: str | None, frame_count: Any) -> int:
    if output_format == "svg":
        # OpenAI bills SVG authoring to a second model in a separate ``svg_usage``; tollway cannot price it.
        raise InvalidRequest(
            "output_format 'svg' is not supported by this relay: its separate authoring usage cannot be billed.",
            param="output_format",
            code="unsupported_value",
        )
    if output_format != "gif":
        return 1
    return _int(frame_count, "frame_count", 9, 2, 16)


class _Images(EndpointHooks):
    """What the three image endpoints share: the hold, the meters, the estimate."""

    name = "images"
    upstream_path = "/images"
    body_kind: BodyKind = "json"
    default_model = "gpt-image-1.5"

    def __init__(self, *, partial_tokens: int = 100) -> None:
        self._partial_tokens = partial_tokens

    @staticmethod
    def request(prepared: Prepared) -> ImageRequest:
        request: ImageRequest = prepared.extra["image"]
        return request

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        request = self.request(prepared)
        # What the meters need later: the DALL·E price key, and one image's output tokens for an estimate.
        prepared.extra["variant"] = image_variant(price, request.size, request.quality) if price.per_image else None
        prepared.extra["per_image_tokens"] = output_tokens_per_image(price, request.size, request.quality)
        return image_budget(request, price, ratio, partial_tokens=self._partial_tokens)

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "bytes"

    def _estimator(self, prepared: Prepared) -> Estimator:
        per_image = int(prepared.extra.get("per_image_tokens", 0))
        return image_estimator(self.request(prepared), per_image, prepared.prompt_texts, self._partial_tokens)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        """A stream that ended without usage: the prompt and the partial images it relayed."""
        base = self._estimator(prepared)(0, 0)
        return Usage(
            input_tokens=base.input_tokens,
            image_input_tokens=base.image_input_tokens,
            output_tokens=output_tokens,
            image_output_tokens=output_tokens,
        )

    def meter(self, prepared: Prepared) -> StreamMeter:
        request = self.request(prepared)
        return images_stream_meter(
            request.n, prepared.extra.get("variant"), self._partial_tokens, self._estimator(prepared)
        )

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        return ImagesByteMeter(prepared.extra.get("variant"), self._estimator(prepared))

    # json mode is not used (answers go through the byte path); kept for the protocol.
    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        usage = response.get("usage")
        return usage_from_images(usage) if isinstance(usage, dict) else None

    def output_of(self, response: dict[str, Any]) -> int:
        return 0


class ImageGenerations(_Images):
    name = "images.generations"
    upstream_path = "/images/generations"
    body_kind: BodyKind = "json"
    # OpenAI's default is dall-e-2 unless a GPT Image parameter is present.
    _GPT_ONLY = ("background", "moderation", "output_format", "output_compression", "partial_images", "stream")

    def prepare(self, body: RequestBody) -> Prepared:
        data = body.json
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        prompt = _prompt(data.get("prompt"))
        model = _text(data.get("model"), "model")
        if not model:
            gpt = any(data.get(k) is not None for k in self._GPT_ONLY) or data.get("quality") in (
                "low",
                "medium",
                "high",
            )
            model = "gpt-image-1.5" if gpt else "dall-e-2"
        stream = _bool(data.get("stream"), "stream")
        output_format = _text(data.get("output_format"), "output_format")
        request = ImageRequest(
            n=_int(data.get("n"), "n", 1, 1, MAX_N),
            size=_text(data.get("size"), "size"),
            quality=_text(data.get("quality"), "quality"),
            partial_images=_int(data.get("partial_images"), "partial_images", 0, 0, MAX_PARTIAL_IMAGES)
            if stream
            else 0,
            frames=_frames(output_format, data.get("frame_count")),
            # The body's bytes bound its text tokens (tollway.tokens), the prompt's included.
            text_bound=len(body.raw),
        )
        return Prepared(
            model=model,
            stream=stream,
            body=data,
            input_bound=request.text_bound,
            has_output_limit=False,
            choices=request.n,
            prompt_texts=[prompt],
            extra={"image": request},
        )

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        body = dict(prepared.body)
        body["model"] = upstream_model
        return UpstreamBody(orjson.dumps(body))


class _MultipartImages(_Images):
    body_kind: BodyKind = "multipart"
    needs_prompt = True
    max_images = MAX_INPUT_IMAGES

    def _form(self, body: RequestBody) -> Form:
        if body.form is None:
            raise InvalidRequest("Expected a multipart/form-data body.", code="invalid_content_type")
        return body.form

    def prepare(self, body: RequestBody) -> Prepared:
        form = self._form(body)
        for name, values in form.fields.items():
            if len(values) > 1 and name in ("model", "prompt", "n", "size", "quality", "stream", "partial_images"):
                raise InvalidRequest(f"Form field '{name}' was sent more than once.", param=name)
        prompt = _prompt(form.first("prompt")) if self.needs_prompt else ""
        images = form.files_named(*_IMAGE_FIELDS)
        if not images:
            raise InvalidRequest("'image' is required: send the image file(s) to work on.", param="image")
        if len(images) > self.max_images:
            raise InvalidRequest(
                f"Too many images: at most {self.max_images} per request.", param="image", code="too_many_images"
            )
        masks = form.files_named("mask")
        if len(masks) > 1:
            raise InvalidRequest("Send at most one 'mask'.", param="mask")
        for part in (*images, *masks):
            if _sniff(part.data) is None:
                raise InvalidRequest(
                    f"The file '{part.filename}' ({part.name}) is not a PNG, JPEG or WebP image.",
                    param=part.name.removesuffix("[]"),
                    code="invalid_image_format",
                )
        stream = _bool(form.first("stream"), "stream")
        output_format = form.first("output_format")
        texts = [v for values in form.fields.values() for v in values]
        request = ImageRequest(
            n=_int(form.first("n"), "n", 1, 1, MAX_N),
            size=form.first("size"),
            quality=form.first("quality"),
            partial_images=_int(form.first("partial_images"), "partial_images", 0, 0, MAX_PARTIAL_IMAGES)
            if stream
            else 0,
            frames=_frames(output_format, form.first("frame_count")),
            text_bound=sum(len(t.encode()) for t in texts) + _TEXT_OVERHEAD,
            # Every uploaded file is an image the model reads (the mask too): bounded per image.
            image_input_bound=image_model_input_bound(
                [f.data for f in form.files], input_fidelity=form.first("input_fidelity")
            ),
        )
        return Prepared(
            model=form.first("model") or self.default_model,
            stream=stream,
            body={},
            input_bound=request.text_bound + request.image_input_bound,
            has_output_limit=False,
            choices=request.n,
            prompt_texts=[prompt] if prompt else [],
            form=form,
            extra={"image": request},
        )

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        form = prepared.form
        if form is None:  # pragma: no cover - prepare always sets it
            raise InvalidRequest("Expected a multipart/form-data body.")
        fields = [(name, value) for name, values in form.fields.items() if name != "model" for value in values]
        fields.insert(0, ("model", upstream_model))
        files = [_normalised(part) for part in form.files]
        content, content_type = encode_multipart(fields, files)
        return UpstreamBody(content, content_type)


def _normalised(part: FilePart) -> FilePart:
    """An image part with its real content type (clients often send application/octet-stream)."""
    if part.name not in (*_IMAGE_FIELDS, "mask"):
        return part
    ctype = _sniff(part.data) or part.content_type
    return FilePart(part.name, part.filename or "image", ctype, part.data)


class ImageEdits(_MultipartImages):
    name = "images.edits"
    upstream_path = "/images/edits"
    default_model = "gpt-image-1.5"  # OpenAI's default for edits


class ImageVariations(_MultipartImages):
    name = "images.variations"
    upstream_path = "/images/variations"
    default_model = "dall-e-2"  # the only model with variations
    needs_prompt = False
    max_images = 1


def image_routes(pipeline: Pipeline, settings: Settings) -> list[BaseRoute]:
    """The three image routes, with and without the ``/v1`` prefix."""
    tokens = settings.image_partial_output_tokens
    specs: tuple[EndpointSpec, ...] = (
        ImageGenerations(partial_tokens=tokens),
        ImageEdits(partial_tokens=tokens),
        ImageVariations(partial_tokens=tokens),
    )
    routes: list[BaseRoute] = []
    for spec in specs:

        async def handle(request: Request, spec: EndpointSpec = spec) -> Response:
            return await pipeline.handle(request, spec)

        for prefix in ("/v1", ""):
            routes.append(Route(f"{prefix}{spec.upstream_path}", handle, methods=["POST"]))
    return routes
