"""Anthropic's Messages API on the pipeline: ``POST /v1/messages`` and ``/v1/messages/count_tokens``, and
OpenAI chat requests for models only Claude channels serve. Thin glue: the conversions, usage mapping
and stream meters are pure modules in ``tollway.anthropic`` and ``tollway.metering.claude``.

One format per request, chosen when it is prepared (so a conversion error is a 400 before any money
moves): a Messages request goes natively to Anthropic channels when any serves the model, else is
converted for the OpenAI-format channels; a chat request goes natively to OpenAI-format channels when
any serves the model, else is converted for Anthropic channels. Failover stays within that format.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from tollway.anthropic.affinity import conversation_key
from tollway.anthropic.requests import chat_to_messages, messages_to_chat
from tollway.anthropic.responses import chat_completion_to_message, message_to_chat_completion
from tollway.anthropic.usage import claude_usage_of, openai_chat_usage_of
from tollway.bedrock.channel import bedrock_claude
from tollway.config.catalog import Catalog
from tollway.config.model import ChannelStatus
from tollway.errors import InvalidRequest
from tollway.ids import request_id
from tollway.metering.claude import ChatToClaudeMeter, ClaudeMeter, ClaudeToChatMeter
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, output_budget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.tokens import estimate_text_tokens
from tollway.upstream.client import ANTHROPIC_VERSION

from relay.endpoints.base import BodyKind, EndpointHooks, Prepared, RequestBody, ResponseMode, UpstreamBody
from relay.endpoints.chat import ChatCompletions

__all__ = ["ChatOrClaude", "CountTokens", "Messages", "protocol_headers"]

_OPENAI_FORMAT = frozenset({"openai", "azure", "mock"})
#: Input-token allowance of one image given by URL (Claude scales images to at most ≈1.15 MP, ≈1,600
#: tokens; the high-resolution models of 2026 to ≈4,800): the body's bytes cannot bound it.
IMAGE_URL_TOKENS = 5_000
#: Anthropic's smallest thinking budget (``budget_tokens`` must also stay below ``max_tokens``).
MIN_THINKING_BUDGET = 1024
#: Web searches reserved for a search tool without ``max_uses``.
DEFAULT_SEARCHES = 10


def protocol_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's protocol headers an Anthropic upstream gets unchanged (never its credentials)."""
    out = {"anthropic-version": headers.get("anthropic-version") or ANTHROPIC_VERSION}
    beta = headers.get("anthropic-beta")
    if beta:
        out["anthropic-beta"] = beta
    return out


def _serving(catalog: Catalog, model: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(Anthropic channel ids, OpenAI-format channel ids) enabled for ``model`` in any group (the
    pipeline still keeps only the key's group)."""
    claude: list[str] = []
    openai: list[str] = []
    for channel in catalog.channels:
        if channel.status is ChannelStatus.ENABLED and model in channel.models:
            if channel.type == "anthropic" or bedrock_claude(channel, model):
                claude.append(channel.channel_id)
            elif channel.type in _OPENAI_FORMAT or channel.type == "bedrock":  # other Bedrock models: Converse
                openai.append(channel.channel_id)
    return tuple(claude), tuple(openai)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict):
            for key in ("text", "thinking"):
                if isinstance(block.get(key), str):
                    out.append(block[key])
            if block.get("type") == "tool_result":
                out.extend(_texts(block.get("content")))
            elif block.get("type") == "tool_use":
                out.append(orjson.dumps(block.get("input")).decode())
    return out


def _validated(body: RequestBody) -> tuple[dict[str, Any], str, list[Any]]:
    data = body.json
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model", code="missing_model")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidRequest("'messages' must be a non-empty array of objects.", param="messages")
    return data, model, messages


def _unbounded_input(data: dict[str, Any]) -> tuple[int, bool]:
    """(extra input tokens the bytes miss, whether only the context window bounds the input): URL images
    add their allowance; URL/file documents and server tools (search results are input) are unbounded."""
    extra, unbounded = 0, False
    stack: list[Any] = [data.get("messages"), data.get("system")]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            source = node.get("source")
            if node.get("type") == "image" and isinstance(source, dict) and source.get("type") != "base64":
                extra += IMAGE_URL_TOKENS
            elif node.get("type") == "document" and isinstance(source, dict) and source.get("type") != "base64":
                unbounded = True
            else:
                stack.extend(v for v in node.values() if isinstance(v, dict | list))
    for tool in data.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") not in (None, "custom"):
            unbounded = True
    if data.get("mcp_servers"):
        unbounded = True
    return extra, unbounded


def _searches(data: dict[str, Any]) -> int:
    total = 0
    for tool in data.get("tools") or []:
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search"):
            uses = tool.get("max_uses")
            total += uses if isinstance(uses, int) and uses > 0 else DEFAULT_SEARCHES
    return total


class Messages(EndpointHooks):
    """``POST /v1/messages`` (one instance per request: it knows the catalog and the client's headers)."""

    name = "messages"
    body_kind: BodyKind = "json"

    def __init__(self, catalog: Catalog, headers: Mapping[str, str]) -> None:
        self._catalog = catalog
        self._headers = protocol_headers(headers)
        self._session_headers = {k.lower(): v for k, v in headers.items() if "session" in k.lower()}
        self._native = True
        self.upstream_path = "/v1/messages"  # these two are set again when the format is known
        self.priced_as = "messages"

    def prepare(self, body: RequestBody) -> Prepared:
        data, model, messages = _validated(body)
        limit = data.get("max_tokens")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidRequest("'max_tokens' is required and must be a positive integer.", param="max_tokens")
        stream = data.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        claude, openai = _serving(self._catalog, model)
        self._native = bool(claude) or not openai
        if not self._native:
            self.upstream_path, self.priced_as = "/chat/completions", "chat.completions"
        extra, unbounded = _unbounded_input(data)
        prepared = Prepared(
            model=model,
            stream=stream,
            body=data,
            input_bound=len(body.raw) + extra,
            requested_output=limit,
            prompt_texts=[t for m in messages for t in _texts(m.get("content"))] + _texts(data.get("system")),
            messages=len(messages),
            channel_ids=claude if self._native else openai,
            affinity=conversation_key(data, self._session_headers),
            format="native" if self._native else "converted",
        )
        prepared.extra["unbounded_input"] = unbounded
        prepared.extra["searches"] = _searches(data)
        if not self._native:
            # Converted now so that a field OpenAI cannot honour is a 400 before any money moves.
            prepared.extra["chat"] = messages_to_chat(data, upstream_model=model, max_tokens=limit, reasoning=False)
        return prepared

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        window = price.max_input_tokens or price.context_window
        bound = prepared.input_bound
        if window is not None and (prepared.extra.get("unbounded_input") or bound > window):
            bound = window  # the upstream refuses anything longer than the model's window
        search_fee = (price.tools or {}).get("web_search", Decimal(0)) * prepared.extra.get("searches", 0)
        return output_budget(price, input_bound_tokens=bound, group_ratio=ratio, extra_fixed_usd=search_fee)

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "sse" if prepared.stream else "json"

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("messages answer in json or sse mode")

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        limit = output_limit or prepared.requested_output
        if self._native:
            body = dict(prepared.body, model=upstream_model, max_tokens=limit)
            thinking = body.get("thinking")
            if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int) and limit:
                if thinking["budget_tokens"] >= limit > MIN_THINKING_BUDGET:
                    # The balance clamped max_tokens: the thinking budget must stay below it.
                    body["thinking"] = {**thinking, "budget_tokens": limit - 1}
            return UpstreamBody(orjson.dumps(body), headers=self._headers)
        chat = dict(prepared.extra["chat"], model=upstream_model)
        chat.pop("max_tokens", None)
        chat["max_completion_tokens" if prepared.reasoning else "max_tokens"] = limit
        return UpstreamBody(orjson.dumps(chat))

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        usage = response.get("usage")
        if not isinstance(usage, dict):
            return None
        return claude_usage_of(usage) if self._native else openai_chat_usage_of(usage)

    def output_of(self, response: dict[str, Any]) -> int:
        if self._native:
            return estimate_text_tokens(_texts(response.get("content")))
        return ChatCompletions().output_of(response)

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        start = prepared.extra.get("start_usage")
        if isinstance(start, dict):
            # message_start's input counts are the upstream's own; only the output is estimated.
            known = claude_usage_of(start)
            return Usage(
                input_tokens=known.input_tokens,
                cached_tokens=known.cached_tokens,
                cache_write_tokens=known.cache_write_tokens,
                cache_write_1h_tokens=known.cache_write_1h_tokens,
                output_tokens=max(output_tokens, known.output_tokens),
            )
        prompt = estimate_text_tokens(prepared.prompt_texts, base=3 + 4 * prepared.messages)
        return Usage(input_tokens=prompt, output_tokens=output_tokens)

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]:
        if self._native:
            return raw, "application/json"
        return orjson.dumps(chat_completion_to_message(parsed, model=prepared.model)), "application/json"

    def meter(self, prepared: Prepared) -> StreamMeter:
        if self._native:
            return _RecordingClaudeMeter(prepared)
        input_estimate = estimate_text_tokens(prepared.prompt_texts, base=3 + 4 * prepared.messages)
        return ChatToClaudeMeter(
            model=prepared.model, message_id="msg_" + request_id().removeprefix("req_"), input_estimate=input_estimate
        )


class _RecordingClaudeMeter(ClaudeMeter):
    """A native meter that leaves message_start's usage where :meth:`Messages.estimate` finds it."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__()
        self._prepared = prepared

    def on_event(self, event: Any) -> bytes | None:
        out = super().on_event(event)
        if event.event == "message_start":
            self._prepared.extra["start_usage"] = self.start_usage
        return out


class CountTokens(EndpointHooks):
    """``POST /v1/messages/count_tokens``: forwarded to an Anthropic channel, estimated by tollway when
    none serves the model. Never charged; it still passes the key's guards (rate limits) and is recorded."""

    name = "messages.count_tokens"
    upstream_path = "/v1/messages/count_tokens"
    body_kind: BodyKind = "json"
    #: Fields of a create request that count_tokens does not take.
    _CREATE_ONLY = (
        "max_tokens",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "service_tier",
    )

    def __init__(self, catalog: Catalog, headers: Mapping[str, str]) -> None:
        self._catalog = catalog
        self._headers = protocol_headers(headers)
        self._session_headers = {k.lower(): v for k, v in headers.items() if "session" in k.lower()}
        self.priced_as = "messages"

    def prepare(self, body: RequestBody) -> Prepared:
        data, model, messages = _validated(body)
        claude, _ = _serving(self._catalog, model)
        # Bedrock channels take no count_tokens call here: with only those, tollway estimates.
        anthropic = {c.channel_id for c in self._catalog.channels if c.type == "anthropic"}
        claude = tuple(c for c in claude if c in anthropic)
        if not claude:
            self.priced_as = "chat.completions"  # a GPT model counted for an Anthropic-format client
        prepared = Prepared(
            model=model,
            stream=False,
            body=data,
            input_bound=0,
            has_output_limit=False,
            prompt_texts=[t for m in messages for t in _texts(m.get("content"))] + _texts(data.get("system")),
            messages=len(messages),
            channel_ids=claude or None,
            # Counted on the conversation's channel too: one upstream account per conversation, as its turns.
            affinity=conversation_key(data, self._session_headers),
        )
        prepared.extra["estimate"] = not claude
        prepared.extra["tools_bytes"] = len(orjson.dumps(data.get("tools") or []))
        return prepared

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return OutputBudget(fixed_usd=Decimal(0), per_output_token_usd=Decimal(0))

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return "json"

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        raise NotImplementedError("count_tokens answers in json mode")

    def meter(self, prepared: Prepared) -> StreamMeter:
        raise NotImplementedError("count_tokens answers in json mode")

    def local_answer(self, prepared: Prepared) -> bytes | None:
        if not prepared.extra["estimate"]:
            return None
        count = estimate_text_tokens(prepared.prompt_texts, base=3 + 4 * prepared.messages)
        return orjson.dumps({"input_tokens": count + prepared.extra["tools_bytes"] // 4})

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        body = {k: v for k, v in prepared.body.items() if k not in self._CREATE_ONLY}
        body["model"] = upstream_model
        return UpstreamBody(orjson.dumps(body), headers=self._headers)

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        return Usage()  # a count is free: nothing is billed, so nothing is recorded as consumed

    def output_of(self, response: dict[str, Any]) -> int:
        return 0

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        return Usage()

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int:
        return 0


class ChatOrClaude(EndpointHooks):
    """``POST /v1/chat/completions`` when some model is served by Anthropic channels: the request goes to
    OpenAI-format channels as it is when any serves its model, else it is converted for Claude."""

    name = "chat.completions"
    body_kind: BodyKind = "json"

    def __init__(self, chat: ChatCompletions, catalog: Catalog, headers: Mapping[str, str]) -> None:
        self._chat = chat
        self._catalog = catalog
        self._session_headers = {k.lower(): v for k, v in headers.items() if "session" in k.lower()}
        self._claude = False
        self._created = int(time.time())
        self.upstream_path = chat.upstream_path

    def prepare(self, body: RequestBody) -> Prepared:
        prepared = self._chat.prepare(body)
        claude, openai = _serving(self._catalog, prepared.model)
        self._claude = bool(claude) and not openai
        if self._claude:
            converted = chat_to_messages(prepared.body, upstream_model=prepared.model, max_tokens=1)
            prepared.extra["claude"] = converted
            prepared.channel_ids = claude
            prepared.affinity = conversation_key(converted, self._session_headers)
            prepared.format = "converted"
            self.upstream_path = "/v1/messages"
        return prepared

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget:
        return self._chat.budget(prepared, price, ratio)

    def response_mode(self, prepared: Prepared) -> ResponseMode:
        return self._chat.response_mode(prepared)

    def byte_meter(self, prepared: Prepared) -> ByteMeter:
        return self._chat.byte_meter(prepared)

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody:
        if not self._claude:
            return self._chat.upstream_body(prepared, output_limit, upstream_model)
        limit = output_limit or prepared.requested_output or 4096
        body = dict(prepared.extra["claude"], model=upstream_model, max_tokens=limit)
        return UpstreamBody(orjson.dumps(body), headers=protocol_headers({}))

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        if not self._claude:
            return self._chat.usage_of(response)
        usage = response.get("usage")
        return claude_usage_of(usage) if isinstance(usage, dict) else None

    def output_of(self, response: dict[str, Any]) -> int:
        if not self._claude:
            return self._chat.output_of(response)
        return estimate_text_tokens(_texts(response.get("content")))

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        return self._chat.estimate(prepared, output_tokens)

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]:
        if not self._claude:
            return raw, "application/json"
        completion = message_to_chat_completion(parsed, model=prepared.model, created=self._created)
        return orjson.dumps(completion), "application/json"

    def meter(self, prepared: Prepared) -> StreamMeter:
        if not self._claude:
            return self._chat.meter(prepared)
        return ClaudeToChatMeter(
            model=prepared.model, created=self._created, client_wants_usage=prepared.client_wants_usage
        )
