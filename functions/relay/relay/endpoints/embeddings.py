"""``POST /v1/embeddings``: input as a string, strings, a token array or token arrays; float or base64.

No output tokens. The reservation is the input bound at the input price: the UTF-8 bytes of the
strings (every token covers at least one byte) plus the exact count of tokens sent as arrays.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.metering.embeddings import usage_from_embeddings
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, output_budget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.fields import json_object, optional_int, require_model, text_inputs

__all__ = ["Embeddings"]

_FORMATS = ("float", "base64")


class Embeddings(EndpointHooks):
    name = "embeddings"
    upstream_path = "/embeddings"
    body_kind: BodyKind = "json"

    def prepare(self, body: RequestBody) -> Prepared:
        data = json_object(body.json)
        model = require_model(data)
        if "input" not in data:
            raise InvalidRequest("'input' is required.", param="input", code="missing_input")
        texts, array_tokens = text_inputs(data["input"], "input")
        fmt = data.get("encoding_format")
        if fmt is not None and fmt not in _FORMATS:
            raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
        optional_int(data, "dimensions")
        return Prepared(
            model=model,
            stream=False,
            body=data,
            input_bound=sum(len(t.encode("utf-8")) for t in texts) + array_tokens,
            has_output_limit=False,
            prompt_texts=texts,
            extra={"array_tokens": array_tokens},
        )

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return output_budget(price, input_bound_tokens=prepared.input_bound, group_ratio=ratio)

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "json"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        return UpstreamBody(orjson.dumps({**prepared.body, "model": upstream_model}))

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        return usage_from_embeddings(response)

    def output_of(self, response: dict[str, Any]) -> int:
        return 0

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        tokens = sum(math.ceil(len(t) / 4) for t in prepared.prompt_texts) + int(prepared.extra["array_tokens"])
        return Usage(input_tokens=tokens)

    def meter(self, prepared: Prepared) -> StreamMeter:
        raise NotImplementedError("embeddings answer in json mode")

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("embeddings answer in json mode")
