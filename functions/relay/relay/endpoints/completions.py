"""``POST /v1/completions`` (legacy text completions), streaming and not.

The worst case multiplies the output limit by every completion the request can produce: one per
prompt (a list of prompts is a batch) times ``max(n, best_of)`` — ``best_of`` completions are generated
and billed upstream even though only ``n`` come back. Without ``max_tokens`` the legacy API stops at
16 tokens, so 16 is the requested limit then (tollway never silently lengthens an answer).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.metering.chat import completions_meter, usage_from_chat
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, output_budget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.fields import json_object, optional_bool, optional_int, require_model, text_inputs

__all__ = ["Completions"]

#: The legacy API's default ``max_tokens``.
LEGACY_DEFAULT_MAX_TOKENS = 16


class Completions(EndpointHooks):
    name = "completions"
    upstream_path = "/completions"
    body_kind: BodyKind = "json"

    def prepare(self, body: RequestBody) -> Prepared:
        data = json_object(body.json)
        model = require_model(data)
        prompt = data.get("prompt")
        texts, array_tokens = text_inputs("<|endoftext|>" if prompt is None else prompt, "prompt")
        prompts = _prompt_count(prompt)
        stream = optional_bool(data, "stream")
        n = optional_int(data, "n", maximum=128) or 1
        best_of = optional_int(data, "best_of", maximum=20) or n
        if best_of < n:
            raise InvalidRequest("'best_of' must be greater than or equal to 'n'.", param="best_of")
        if stream and best_of > 1:
            raise InvalidRequest("'best_of' cannot be used with 'stream'.", param="best_of")
        max_tokens = optional_int(data, "max_tokens")
        options = data.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
        if isinstance(data.get("suffix"), str):
            texts.append(data["suffix"])
        return Prepared(
            model=model,
            stream=stream,
            body=data,
            input_bound=len(body.raw),
            requested_output=max_tokens if max_tokens is not None else LEGACY_DEFAULT_MAX_TOKENS,
            choices=prompts * max(n, best_of),
            client_wants_usage=bool(stream and options and options.get("include_usage") is True),
            prompt_texts=texts,
            messages=prompts,
            extra={"array_tokens": array_tokens},
        )

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return output_budget(
            price, input_bound_tokens=prepared.input_bound, choices=prepared.choices, group_ratio=ratio
        )

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "json"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        body = {**prepared.body, "model": upstream_model}
        if output_limit is not None and (output_limit != prepared.requested_output or "max_tokens" in body):
            body["max_tokens"] = output_limit
        if prepared.stream:
            # Always ask for usage; the meter hides the extra chunk from a client that did not ask.
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return UpstreamBody(orjson.dumps(body))

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        usage = response.get("usage")
        return usage_from_chat(usage) if isinstance(usage, dict) else None

    def output_of(self, response: dict[str, Any]) -> int:
        texts = [
            c["text"] for c in response.get("choices") or [] if isinstance(c, dict) and isinstance(c.get("text"), str)
        ]
        return estimate_text_tokens(texts)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        prompt = estimate_text_tokens(prepared.prompt_texts) + int(prepared.extra["array_tokens"])
        return Usage(input_tokens=prompt, output_tokens=output_tokens)

    def meter(self, prepared: Prepared) -> StreamMeter:
        return completions_meter(prepared.client_wants_usage)

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("completions answer in json or sse mode")


def _prompt_count(prompt: Any) -> int:
    """How many prompts a request batches: a list of strings or of token arrays is one per item."""
    if isinstance(prompt, list) and prompt and all(isinstance(p, str | list) for p in prompt):
        return len(prompt)
    return 1
