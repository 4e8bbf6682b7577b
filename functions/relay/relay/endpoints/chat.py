"""``POST /v1/chat/completions``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from tollway.errors import InvalidRequest
from tollway.metering.chat import chat_meter, usage_from_chat
from tollway.metering.fields import dicts, obj
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, output_budget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens
from tollway.vision import input_bound

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody

__all__ = ["ChatCompletions"]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest(f"'{name}' must be a positive integer.", param=name, code="invalid_value")
    return value


class ChatCompletions(EndpointHooks):
    name = "chat.completions"
    upstream_path = "/chat/completions"
    body_kind: BodyKind = "json"

    def __init__(self, *, reasoning_limit_field: str = "max_completion_tokens") -> None:
        self._reasoning_field = reasoning_limit_field

    def prepare(self, body: RequestBody) -> Prepared:
        data, raw = body.json, body.raw
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("'model' is required and must be a string.", param="model", code="missing_model")
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
        if not all(isinstance(m, dict) for m in messages):
            raise InvalidRequest("Each message must be an object.", param="messages")
        stream = data.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        n = data.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
            raise InvalidRequest("'n' must be an integer between 1 and 128.", param="n")
        limits = [v for v in (_positive_int(data, "max_tokens"), _positive_int(data, "max_completion_tokens")) if v]
        options = data.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
        tier = data.get("service_tier")
        texts = [t for m in messages for t in _texts(m.get("content"))]
        return Prepared(
            model=model,
            stream=stream,
            body=data,
            input_bound=input_bound(raw, data, model),  # body bytes, image parts by their token bound
            requested_output=min(limits) if limits else None,
            choices=n,
            client_wants_usage=bool(stream and options and options.get("include_usage") is True),
            service_tier=tier if isinstance(tier, str) else None,
            prompt_texts=texts,
            messages=len(messages),
        )

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return output_budget(
            price,
            input_bound_tokens=prepared.input_bound,
            choices=prepared.choices,
            requested_tier=prepared.service_tier,
            group_ratio=ratio,
        )

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "json"

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("chat completions answer in json or sse mode")

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        body = dict(prepared.body)
        body["model"] = upstream_model
        if output_limit is not None and output_limit != prepared.requested_output:
            # Set the limit the money pays for, in the field the client used (or the one the model expects).
            if "max_tokens" in body and body["max_tokens"] is not None:
                body["max_tokens"] = output_limit
                if body.get("max_completion_tokens") is not None:
                    body["max_completion_tokens"] = output_limit
            elif body.get("max_completion_tokens") is not None:
                body["max_completion_tokens"] = output_limit
            else:
                body[self._field_for(prepared)] = output_limit
        if prepared.stream:
            # Always ask for usage; the meter hides the extra chunk from a client that did not ask.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return UpstreamBody(orjson.dumps(body))

    def _field_for(self, prepared: Prepared) -> str:
        # Reasoning models refuse max_tokens; older OpenAI-compatible upstreams only know max_tokens.
        return "max_completion_tokens" if prepared.reasoning else "max_tokens"

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        usage = response.get("usage")
        if not isinstance(usage, dict):
            return None
        tier = response.get("service_tier")
        return usage_from_chat(usage, tier if isinstance(tier, str) else None)

    def output_of(self, response: dict[str, Any]) -> int:
        texts: list[str] = []
        for choice in dicts(response.get("choices")):
            texts.extend(_texts(obj(choice.get("message")).get("content")))
        return estimate_text_tokens(texts)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        prompt = estimate_text_tokens(prepared.prompt_texts, per_item_overhead=0, base=3 + 4 * prepared.messages)
        return Usage(input_tokens=prompt, output_tokens=output_tokens, service_tier=prepared.service_tier)

    def meter(self, prepared: Prepared) -> StreamMeter:
        return chat_meter(prepared.client_wants_usage, prepared.service_tier)
