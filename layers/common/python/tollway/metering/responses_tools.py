"""Responses API: built-in tools (what they cost, how they are bounded) and usage (what was consumed).

Tools fall in three groups:

- **client-side** (``function``, ``custom``, ``namespace``, ``computer``, ``computer_use_preview``,
  ``local_shell``, ``apply_patch``, a client-executed ``tool_search``, a ``shell`` in a local
  environment): the model only asks; nothing runs upstream and nothing extra is billed.
- **server-side, tokens only** (``mcp``, a hosted ``tool_search``): no fee, but each call runs
  upstream and its result feeds another model turn, so it counts towards the turn bound below.
- **server-side with a fee** (``web_search*``, ``file_search``, ``code_interpreter``, a hosted
  ``shell``, ``programmatic_tool_calling``, and ``image_generation``, priced by its image model's token
  usage): billed per call at the model's ``tools`` price (per container for ``code_interpreter``).
  A fee tool the price file does not price is refused — never given away.

Any type tollway does not know is refused too. Server-side calls are bounded by ``max_tool_calls``
(tollway sets ``settings.responses_max_tool_calls`` when the client sent none).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tollway.errors import InvalidRequest
from tollway.metering.fields import count, obj
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage

__all__ = [
    "CLIENT_TOOLS",
    "IMAGE_TOOL",
    "ToolPlan",
    "PARTIAL_IMAGE_TOKENS",
    "fee_key",
    "image_call_bound",
    "image_tables",
    "image_tool_usage",
    "image_usage_of",
    "plan_tools",
    "times",
    "tool_calls_of",
    "usage_from_response",
]

IMAGE_TOOL = "image_generation"
#: Image output tokens each streamed partial image adds.
PARTIAL_IMAGE_TOKENS = 100
CLIENT_TOOLS = frozenset(
    {"function", "custom", "namespace", "computer", "computer_use_preview", "local_shell", "apply_patch"}
)
_TOKEN_ONLY_TOOLS = frozenset({"mcp"})
# Request tool type → the price-file key of its per-call fee.
_FEE_KEYS = {
    "web_search": "web_search",
    "web_search_2025_08_26": "web_search",
    "web_search_preview": "web_search",
    "web_search_preview_2025_03_11": "web_search",
    "file_search": "file_search",
    "code_interpreter": "code_interpreter",
    "shell": "shell",
    "programmatic_tool_calling": "programmatic_tool_calling",
}
# Output item type → the fee key its calls are counted under.
_ITEM_KEYS = {
    "web_search_call": "web_search",
    "file_search_call": "file_search",
    "code_interpreter_call": "code_interpreter",
    "shell_call": "shell",
    "image_generation_call": IMAGE_TOOL,
    "mcp_call": "mcp",
}


def fee_key(tool: dict[str, Any]) -> str | None:
    """The fee key of a tool of the request, None for a fee-free one; raises for an unknown type."""
    kind = tool.get("type")
    if not isinstance(kind, str):
        raise InvalidRequest("Each tool must be an object with a 'type'.", param="tools")
    if kind in CLIENT_TOOLS or kind in _TOKEN_ONLY_TOOLS:
        return None
    if kind == "tool_search":
        return None
    if kind == "shell":
        environment = tool.get("environment")
        if isinstance(environment, dict) and environment.get("type") == "local":
            return None
    if kind == IMAGE_TOOL:
        return IMAGE_TOOL
    key = _FEE_KEYS.get(kind)
    if key is None:
        raise InvalidRequest(
            f"The tool type '{kind}' is not supported by this relay (it cannot be priced).",
            param="tools",
            code="unsupported_tool",
        )
    return key


def _server_side(tool: dict[str, Any]) -> bool:
    kind = tool.get("type")
    if kind in CLIENT_TOOLS:
        return False
    if kind == "tool_search":
        return tool.get("execution") != "client"
    if kind == "shell":
        environment = tool.get("environment")
        return not (isinstance(environment, dict) and environment.get("type") == "local")
    return True


class ToolPlan:
    """What a request's tools mean for its reservation."""

    def __init__(self, fee_keys: set[str], server_side: bool, image_tools: list[dict[str, Any]]) -> None:
        self.fee_keys = fee_keys  # price keys of the fee tools present (image_generation excluded)
        self.server_side = server_side  # some tool runs upstream: calls are bounded, turns multiply
        self.image_tools = image_tools


def plan_tools(tools: Any) -> ToolPlan:
    """Classify ``tools``. Raises InvalidRequest for a malformed list or an unknown tool type."""
    if tools is None:
        return ToolPlan(set(), False, [])
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise InvalidRequest("'tools' must be an array of objects.", param="tools")
    fees: set[str] = set()
    images: list[dict[str, Any]] = []
    server = False
    for tool in tools:
        key = fee_key(tool)
        if key == IMAGE_TOOL:
            images.append(tool)
        elif key is not None:
            fees.add(key)
        server = server or _server_side(tool)
    return ToolPlan(fees, server, images)


def tool_calls_of(response: dict[str, Any]) -> dict[str, int]:
    """Built-in tool calls a response made, by fee key. Code interpreter is billed per container, so its
    calls count distinct containers; web searches prefer the response's own ``tool_usage`` count."""
    calls: dict[str, int] = {}
    containers: set[str] = set()
    output = response.get("output")
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict):
            continue
        key = _ITEM_KEYS.get(str(item.get("type")))
        if key is None:
            continue
        if key == "code_interpreter" and isinstance(item.get("container_id"), str):
            containers.add(item["container_id"])
            continue
        calls[key] = calls.get(key, 0) + 1
    if containers:
        calls["code_interpreter"] = calls.get("code_interpreter", 0) + len(containers)
    web = obj(obj(response.get("tool_usage")).get("web_search")).get("num_requests")
    if isinstance(web, int) and not isinstance(web, bool) and web >= 0:
        calls["web_search"] = web
    return {k: v for k, v in calls.items() if v}


def usage_from_response(response: dict[str, Any], requested_tier: str | None = None) -> Usage | None:
    """A Responses ``response`` object's usage (None without one). ``input_tokens`` includes the cached
    and cache-write tokens (docs/openai-endpoints.md, "Cache writes"); reasoning is inside output."""
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    inputs = obj(usage.get("input_tokens_details"))
    outputs = obj(usage.get("output_tokens_details"))
    tier = response.get("service_tier")
    calls = tool_calls_of(response)
    return Usage(
        input_tokens=count(usage.get("input_tokens")),
        cached_tokens=count(inputs.get("cached_tokens")),
        cache_write_tokens=count(inputs.get("cache_write_tokens")),
        output_tokens=count(usage.get("output_tokens")),
        reasoning_tokens=count(outputs.get("reasoning_tokens")),
        images=calls.get(IMAGE_TOOL, 0),
        tool_calls=calls,
        service_tier=tier if isinstance(tier, str) else requested_tier,
    )


def image_usage_of(response: dict[str, Any], worst_per_call: Usage | None) -> Usage | None:
    """The image-generation tool's own usage (``tool_usage.image_gen``), billed at the image model's
    price. Without that report, each image call counts at the per-call worst case (never less)."""
    report = obj(response.get("tool_usage")).get("image_gen")
    calls = tool_calls_of(response).get(IMAGE_TOOL, 0)
    if isinstance(report, dict) and count(report.get("total_tokens")) + count(report.get("output_tokens")):
        inputs = obj(report.get("input_tokens_details"))
        outputs = obj(report.get("output_tokens_details"))
        out = count(report.get("output_tokens"))
        return Usage(
            input_tokens=count(report.get("input_tokens")),
            image_input_tokens=count(inputs.get("image_tokens")),
            output_tokens=out,
            # Without a breakdown every output token of an image call is an image token.
            image_output_tokens=count(outputs.get("image_tokens")) if outputs else out,
        )
    if not calls or worst_per_call is None:
        return None
    return times(worst_per_call, calls)


def times(usage: Usage, n: int) -> Usage:
    """``n`` calls of ``usage``."""
    return Usage(
        input_tokens=usage.input_tokens * n,
        image_input_tokens=usage.image_input_tokens * n,
        output_tokens=usage.output_tokens * n,
        image_output_tokens=usage.image_output_tokens * n,
    )


def image_tables(price: ModelPrice) -> list[int]:
    """Every per-image output token count the price file gives (worst cases and published sizes)."""
    tables: list[int] = list((price.image_output_tokens_worst_case or {}).values())
    tables.extend(int(v) for v in (price.image_output_tokens or {}).values())
    return tables


def image_call_bound(price: ModelPrice, input_tokens: int, partial_images: int) -> Usage:
    """One image call at its worst: the largest image, its partial images, the whole turn as input."""
    out = max(image_tables(price), default=0) + PARTIAL_IMAGE_TOKENS * partial_images
    tp = price.tokens
    image_in = tp is not None and tp.image_input is not None and tp.image_input > (tp.input or Decimal(0))
    return Usage(
        input_tokens=input_tokens,
        image_input_tokens=input_tokens if image_in else 0,
        output_tokens=out,
        image_output_tokens=out,
    )


def image_tool_usage(response: dict[str, Any] | None, worst_per_call: Usage, images: int) -> Usage | None:
    """What the image tool of an answer (``response``; None: a stream that ended without one) is billed,
    at its image model's price: its own usage, else ``images`` calls at the per-call worst case."""
    usage = image_usage_of(response, worst_per_call) if response is not None else None
    if usage is None and images:
        usage = times(worst_per_call, images)
    return usage
