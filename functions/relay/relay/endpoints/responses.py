"""``POST /v1/responses``, streaming and not.

Reservation (the worst case the request allows, docs/openai-endpoints.md):

- input: the body's bytes (images bounded by ``tollway.vision``), plus, for a continuation
  (``previous_response_id``), the earlier response's input and output tokens; a reusable ``prompt`` or
  an ``input_file`` cannot be measured, so they reserve the model's whole input window. Capped by it.
- output: ``max_output_tokens``, clamped like chat's ``max_tokens`` (the one limit field of this API).
- server-side tools: at most ``k = max_tool_calls`` calls (tollway sets it when absent); every call may
  start another model turn that re-reads the input, ``settings.responses_tool_result_tokens`` per
  earlier call and the output so far (each turn capped by the model's input window); each call may
  cost the dearest per-call fee present, and an image call its image model's worst case.

Settlement reads usage from the final ``response.completed``/``response.incomplete`` event (or the
JSON answer): input with cached and cache-write tokens inside it, output with reasoning inside it, the
service tier the response reports, tool calls per the price file's ``tools``, and the image tool's own
token usage at its image model's prices. ``response.failed`` and ``error`` events cost nothing.

Refused with a clear 400 rather than half-working: ``background`` (its usage arrives after the
request ends) and ``conversation`` (the Conversations API is not relayed).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from tollway.auth import KeyContext
from tollway.errors import InvalidRequest, NotFound
from tollway.metering.fields import count
from tollway.metering.prices import MILLION, dearest
from tollway.metering.responses_meter import ResponsesMeter
from tollway.metering.responses_tools import (
    IMAGE_TOOL,
    image_call_bound,
    image_tables,
    image_tool_usage,
    plan_tools,
    tool_calls_of,
    usage_from_response,
)
from tollway.metering.stream import ByteMeter
from tollway.money import ceil_micros
from tollway.pricing.engine import OutputBudget, cost_of, output_budget, tier_multiplier
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.records import UsageRecord
from tollway.settings import Settings
from tollway.stored_responses import ResponseStore, StoredResponse
from tollway.tokens import estimate_text_tokens
from tollway.vision import input_bound

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.fields import json_object, optional_bool, optional_int, require_model

__all__ = ["ResponsesCreate"]


def _texts(value: Any, out: list[str]) -> None:
    """Every text of a Responses ``input`` (for estimates when the upstream reports no usage)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key in ("text", "content", "output", "arguments"):
                if key in node:
                    stack.append(node[key])


def _has_file_input(raw: bytes, body: Any) -> bool:
    if b'"input_file"' not in raw:
        return False
    stack = [body.get("input")]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") == "input_file":
                return True
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
    return False


class ResponsesCreate(EndpointHooks):
    """One request's spec (built per request: it carries the state the answer teaches it)."""

    name = "responses"
    upstream_path = "/responses"
    body_kind: BodyKind = "json"
    resolves = True  # a continuation reads the stored response it continues
    stores_on_success = True  # the answer's id → channel, before the client can continue it

    def __init__(self, store: ResponseStore, settings: Settings, prices: Callable[[str], ModelPrice | None]) -> None:
        self._store = store
        self._settings = settings
        self._prices = prices
        self._meter: ResponsesMeter | None = None
        self._answer: dict[str, Any] | None = None  # the JSON answer (non-streaming)

    # ---- admission -------------------------------------------------------------------------------

    def prepare(self, body: RequestBody) -> Prepared:
        data = json_object(body.json)
        model = require_model(data)
        if optional_bool(data, "background"):
            raise InvalidRequest(
                "Background responses are not supported by this relay: use stream=true for long generations.",
                param="background",
                code="unsupported_parameter",
            )
        if data.get("conversation") is not None:
            raise InvalidRequest(
                "The Conversations API is not supported by this relay: use previous_response_id.",
                param="conversation",
                code="unsupported_parameter",
            )
        stream = optional_bool(data, "stream")
        limit = optional_int(data, "max_output_tokens")
        calls = optional_int(data, "max_tool_calls", minimum=0)
        previous = data.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous):
            raise InvalidRequest("'previous_response_id' must be a string.", param="previous_response_id")
        if data.get("store") is not None and not isinstance(data.get("store"), bool):
            raise InvalidRequest("'store' must be a boolean.", param="store")
        tools = plan_tools(data.get("tools"))
        if tools.server_side and calls is None:
            calls = self._settings.responses_max_tool_calls  # set upstream: the bound the hold pays for
        texts: list[str] = []
        _texts(data.get("input"), texts)
        if isinstance(data.get("instructions"), str):
            texts.append(data["instructions"])
        tier = data.get("service_tier")
        return Prepared(
            model=model,
            stream=stream,
            body=data,
            input_bound=input_bound(body.raw, data, model),
            requested_output=limit,
            service_tier=tier if isinstance(tier, str) else None,
            prompt_texts=texts,
            extra={
                "previous": previous,
                "previous_tokens": 0,
                "unmeasured_input": data.get("prompt") is not None or _has_file_input(body.raw, data),
                "tool_calls": calls if tools.server_side else 0,
                "set_tool_calls": tools.server_side and data.get("max_tool_calls") is None,
                "fee_keys": sorted(tools.fee_keys),
                "image_tools": tools.image_tools,
            },
        )

    def resolve(self, prepared: Prepared, context: KeyContext) -> None:
        """A continuation goes to the channel holding the earlier response, and inherits its tokens."""
        previous = prepared.extra["previous"]
        if previous is None:
            return
        item = self._store.get(context.account.account_id, previous)
        if item is None:
            raise NotFound(
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        prepared.channel_ids = (item.channel_id,)
        prepared.extra["previous_tokens"] = item.context_tokens

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        window = price.max_input_tokens or price.context_window
        base = prepared.input_bound + int(prepared.extra["previous_tokens"])
        if prepared.extra["unmeasured_input"]:
            if window is None:
                raise InvalidRequest(
                    "This request's input cannot be measured and the model has no known context window.",
                    code="unbounded_input",
                )
            base = window
        calls = int(prepared.extra["tool_calls"])
        result = self._settings.responses_tool_result_tokens
        # Turn t (0 … calls) re-reads the input plus the results of the t calls before it.
        turns = [base + t * result if window is None else min(base + t * result, window) for t in range(calls + 1)]
        fees = self._tool_fees(prepared, price, calls) + self._image_worst(prepared, calls, turns[-1])
        budget = output_budget(
            price,
            input_bound_tokens=sum(turns),
            requested_tier=prepared.service_tier,
            group_ratio=ratio,
            extra_fixed_usd=fees,
        )
        if not calls:
            return budget
        # Each later turn re-reads what the model wrote before it: output tokens priced again as input.
        tp = price.tokens
        reread = dearest(tp.input, tp.cache_write) if tp is not None else Decimal(0)
        lc = price.long_context
        if lc is not None:
            reread *= max(lc.multipliers.get("input", Decimal(1)), lc.multipliers.get("cache_write", Decimal(1)))
        extra = reread / MILLION * calls * tier_multiplier(price, prepared.service_tier) * ratio
        return OutputBudget(budget.fixed_usd, budget.per_output_token_usd + extra)

    def _tool_fees(self, prepared: Prepared, price: ModelPrice, calls: int) -> Decimal:
        keys: list[str] = prepared.extra["fee_keys"]
        if not keys:
            return Decimal(0)
        fees = price.tools or {}
        unpriced = [k for k in keys if k not in fees]
        if unpriced:
            raise InvalidRequest(
                f"The built-in tool '{unpriced[0]}' is not priced for '{prepared.model}' on this relay.",
                param="tools",
                code="unpriced_tool",
            )
        return max(fees[k] for k in keys) * calls

    def _image_price(self, tool: dict[str, Any]) -> tuple[str, ModelPrice]:
        model = tool.get("model") or self._settings.responses_image_tool_model
        price = self._prices(str(model))
        if price is None or price.tokens is None:
            raise InvalidRequest(
                f"The image_generation tool's model '{model}' is not priced on this relay.",
                param="tools",
                code="unpriced_tool",
            )
        if not image_tables(price):
            raise InvalidRequest(
                f"The image_generation tool's model '{model}' has no output bound on this relay.",
                param="tools",
                code="unbounded_tool",
            )
        return str(model), price

    def _image_worst(self, prepared: Prepared, calls: int, per_turn: int) -> Decimal:
        tools: list[dict[str, Any]] = prepared.extra["image_tools"]
        if not tools:
            return Decimal(0)
        worst = Decimal(0)
        for tool in tools:
            model, price = self._image_price(tool)
            partial = count(tool.get("partial_images")) if prepared.stream else 0
            usage = image_call_bound(price, per_turn, partial)
            worst = max(worst, cost_of(price, usage).usd)
            prepared.extra.setdefault("image_models", []).append(model)
        return worst * calls

    # ---- upstream --------------------------------------------------------------------------------

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "json"

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        body = {**prepared.body, "model": upstream_model}
        if output_limit is not None and output_limit != prepared.requested_output:
            body["max_output_tokens"] = output_limit
        if prepared.extra["set_tool_calls"]:
            body["max_tool_calls"] = prepared.extra["tool_calls"]
        if prepared.extra["image_tools"]:
            default = self._settings.responses_image_tool_model
            body["tools"] = [
                {**t, "model": default} if t.get("type") == IMAGE_TOOL and not t.get("model") else t
                for t in body["tools"]
            ]
        return UpstreamBody(orjson.dumps(body))

    # ---- metering --------------------------------------------------------------------------------

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        self._answer = response
        if response.get("status") == "failed":
            return Usage()  # a failed response costs the customer nothing
        return usage_from_response(response)

    def output_of(self, response: dict[str, Any]) -> int:
        texts: list[str] = []
        _texts(response.get("output"), texts)
        return estimate_text_tokens(texts)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        prompt = estimate_text_tokens(prepared.prompt_texts, per_item_overhead=4) + int(
            prepared.extra["previous_tokens"]
        )
        if self._answer is not None:  # a JSON answer without usage: its output items still count
            calls = tool_calls_of(self._answer)
        else:
            calls = dict(self._meter.tool_calls) if self._meter is not None else {}
        return Usage(
            input_tokens=prompt,
            output_tokens=output_tokens,
            images=calls.get(IMAGE_TOOL, 0),
            tool_calls=calls,
            service_tier=prepared.service_tier,
        )

    def meter(self, prepared: Prepared) -> ResponsesMeter:
        self._meter = ResponsesMeter(prepared.service_tier)
        return self._meter

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("responses answer in json or sse mode")

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int:
        """The model's tokens and tool fees, plus image-tool calls at their image model's prices."""
        total = cost_of(price, usage, ratio).usd
        models: list[str] = prepared.extra.get("image_models") or []
        answer = self._answer if self._answer is not None else (self._meter.final if self._meter else None)
        if models and (answer is not None or usage.images):
            image_price = self._prices(models[0])
            if image_price is not None:
                worst = image_call_bound(image_price, usage.input_tokens, 0)
                image = image_tool_usage(answer, worst, usage.images)
                if image is not None:
                    total += cost_of(image_price, image, ratio).usd
        return ceil_micros(total)

    def succeeded(self, prepared: Prepared, record: UsageRecord) -> None:
        """Remember which channel holds a stored response (before the client can refer to it)."""
        if prepared.body.get("store") is False or record.channel_id is None:
            return
        answer = self._answer if self._answer is not None else (self._meter.final if self._meter else None)
        response_id = answer.get("id") if answer is not None else None
        if not isinstance(response_id, str) or not response_id:
            return
        self._store.put(
            StoredResponse(
                response_id=response_id,
                account_id=record.account_id,
                channel_id=record.channel_id,
                model=prepared.model,
                request_id=record.request_id,
                created_at=record.created_at,
                input_tokens=record.tokens.get("input", 0),
                output_tokens=record.tokens.get("output", 0),
                key_id=record.key_id,
            ),
            self._settings.responses_store_ttl_days,
        )
