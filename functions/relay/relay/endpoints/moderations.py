"""``POST /v1/moderations``: text (a string or strings) or multimodal parts (text and images).

Moderation models are priced at $0 in the shipped price file: a call costs nothing but is recorded like
any other (an operator who prices them gets a correct reservation: the body's bytes, images bounded
as tollway.vision bounds them). Moderation answers carry no usage; the record's tokens are estimated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, output_budget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens
from tollway.vision import input_bound

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.fields import json_object, require_model

__all__ = ["DEFAULT_MODERATION_MODEL", "Moderations"]

#: OpenAI's default when a request names no model.
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'input' must be a string or a non-empty array.", param="input")
    texts: list[str] = []
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif not (isinstance(item, dict) and item.get("type") == "image_url"):
            raise InvalidRequest("Each input must be a string, a text part or an image_url part.", param="input")
    return texts


class Moderations(EndpointHooks):
    name = "moderations"
    upstream_path = "/moderations"
    body_kind: BodyKind = "json"

    def prepare(self, body: RequestBody) -> Prepared:
        data = json_object(body.json)
        model = require_model(data, DEFAULT_MODERATION_MODEL)
        if "input" not in data:
            raise InvalidRequest("'input' is required.", param="input", code="missing_input")
        texts = _texts(data["input"])
        return Prepared(
            model=model,
            stream=False,
            body=data,
            input_bound=input_bound(body.raw, data, model),
            has_output_limit=False,
            prompt_texts=texts,
        )

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return output_budget(price, input_bound_tokens=prepared.input_bound, group_ratio=ratio)

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "json"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        # The model is always named upstream: the channel may map the default to another name.
        return UpstreamBody(orjson.dumps({**prepared.body, "model": upstream_model}))

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        return None  # moderation answers carry no usage

    def output_of(self, response: dict[str, Any]) -> int:
        return 0

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        return Usage(input_tokens=estimate_text_tokens(prepared.prompt_texts))

    def meter(self, prepared: Prepared) -> StreamMeter:
        raise NotImplementedError("moderations answer in json mode")

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("moderations answer in json mode")
