"""The mock's token accounting for Anthropic's Messages API — pure functions, so tests can compute the
exact usage the mock reports (docs/mock-upstream.md, "Anthropic's Messages API").

Input (`count_input_tokens`), counted in prompt order — tools, then system, then messages:

* a tool: words(description) + 10; server tools (a `type` other than `custom`) count 10;
* system: words of the string, or of every text block (+ 3 when there is a system prompt);
* a message: 3 + Σ its blocks: text → words(text); tool_use → 10; tool_result → words of its content;
  thinking → words(thinking); images, documents and anything else → 0; string content → its words;
* + 3 per request. `[[prompt=N]]` in the last user message makes the total exactly N.

Cache (`cache_split`): a breakpoint is a tool, system block or content block carrying `cache_control`
(top-level `cache_control` marks the last block of the last message). The prefix up to a breakpoint is
identified by a hash of the model and everything before it (cache_control itself excluded) and has the
cumulative count above. The longest prefix already in the cache *of this upstream key*, looked for at each
breakpoint and the 20 blocks before it (Anthropic's lookback), is read; every
segment after it, up to the last breakpoint, is written at the TTL of the breakpoint that closes it
(`ttl: "1h"`, else 5 minutes). input_tokens = total − reads − writes. The markers
`[[cache_read=N]]`, `[[cache_write_5m=N]]`, `[[cache_write_1h=N]]` replace the computed split.

Output (`plan_message`), cap M = `max_tokens`:

* a thinking block when `thinking.type` is `enabled` or `adaptive`: T = `[[reasoning=N]]`, default 8;
* a text block of L = `[[len=N]]` tokens (default: the config's, 24);
* `[[tool_use=N]]` (bare: 1) tool_use blocks for the request's first N client tools (cycled), or
  `[[tool_use:Name]]` one call of the tool so named, 10 tokens each, with an input built from the
  tool's `input_schema`;
* thinking r = min(T, M), text v = min(L, M − r), then each tool_use that still fits;
  output_tokens = r + v + 10 · tools; stop_reason `max_tokens` when something did not fit, else
  `tool_use`, else `refusal` with `[[refusal]]`, else `stop_sequence` with `[[stop]]` and
  `stop_sequences`, else `end_turn`;
* `[[web_search=N]]` reports `server_tool_use.web_search_requests = N`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from tollway_local.mock.errors import bad_request
from tollway_local.mock.usage import DEFAULT_COMPLETION_TOKENS, count_words

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_THINKING_TOKENS",
    "TOOL_USE_TOKENS",
    "Breakpoint",
    "CacheSplit",
    "MessagePlan",
    "ToolCall",
    "breakpoints",
    "cache_split",
    "count_input_tokens",
    "expected_message_usage",
    "message_texts",
    "plan_message",
    "thinking_signature",
]

TOOL_USE_TOKENS = 10
TOOL_DEFINITION_TOKENS = 10
DEFAULT_THINKING_TOKENS = 8
FIVE_MINUTES_S = 300.0
ONE_HOUR_S = 3600.0

_NUMBER = re.compile(r"\[\[(len|prompt|reasoning|cache_read|cache_write_5m|cache_write_1h|web_search)=(\d{1,9})\]\]")
_TOOL_USE = re.compile(r"\[\[tool_use(?:=(\d{1,3})|:([A-Za-z0-9_-]{1,64}))?\]\]")
#: With either beta, Claude Code (2.1.328, observed; which of the two it sends varies with its feature
#: rollout) puts a `role: "system"` message mid-conversation.
SYSTEM_ROLE_BETAS = frozenset({"per-turn-control-2026-07-01", "mid-conversation-tool-changes-2026-07-01"})


# -- reading a request ---------------------------------------------------------------------------------


def _blocks(content: object) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _text_of(content: object) -> str:
    """The text of string content or of the text blocks of list content (nested tool_result content too)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in _blocks(content):
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content")))
    return " ".join(parts)


def message_texts(body: Any) -> list[str]:
    """Every text of the request (system and messages), for `[[fault:…]]` markers; tolerates bad shapes."""
    if not isinstance(body, dict):
        return []
    texts = [_text_of(body.get("system"))]
    messages = body.get("messages")
    if isinstance(messages, list):
        texts += [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    return texts


def _messages_of(body: Mapping[str, Any]) -> list[Any]:
    messages = body.get("messages")
    return messages if isinstance(messages, list) else []


def _last_user_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _block_tokens(block: object) -> int:
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return count_words(block.get("text"))
    if kind in ("tool_use", "server_tool_use"):
        return TOOL_USE_TOKENS
    if kind == "tool_result":
        return len(_text_of(block.get("content")).split())
    if kind == "thinking":
        return count_words(block.get("thinking"))
    return 0


def _tool_tokens(tool: object) -> int:
    if not isinstance(tool, dict):
        return 0
    if tool.get("type") not in (None, "custom"):
        return TOOL_DEFINITION_TOKENS
    return count_words(tool.get("description")) + TOOL_DEFINITION_TOKENS


def _system_blocks(system: object) -> list[Any]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return system if isinstance(system, list) else []


def _strip_cache_control(item: object) -> object:
    if isinstance(item, dict) and "cache_control" in item:
        return {k: v for k, v in item.items() if k != "cache_control"}
    return item


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A cache breakpoint: the prefix through one block, its token count and TTL (`block`: the block's
    position in prompt order, which bounds the lookback)."""

    tokens: int
    prefix_hash: str
    ttl_s: float
    block: int = 0


#: How many blocks before a breakpoint the cache looks for an earlier cached prefix (Anthropic's rule),
#: so a conversation that moves its breakpoint to the newest block still reads the previous turn's prefix.
LOOKBACK_BLOCKS = 20


def _ttl_s(cache_control: object) -> float:
    ttl = cache_control.get("ttl") if isinstance(cache_control, dict) else None
    return ONE_HOUR_S if ttl == "1h" else FIVE_MINUTES_S


def _walk(body: Mapping[str, Any]) -> tuple[int, list[Breakpoint], list[Breakpoint]]:
    """(total input tokens by the formula, the breakpoints, every block's prefix), in prompt order."""
    digest = hashlib.sha256(orjson.dumps(body.get("model")))
    total = 0
    found: list[Breakpoint] = []
    every: list[Breakpoint] = []
    top_level = body.get("cache_control")
    messages = _messages_of(body)

    def visit(item: object, tokens: int, control: object) -> None:
        nonlocal total
        total += tokens
        digest.update(orjson.dumps(_strip_cache_control(item), option=orjson.OPT_SORT_KEYS))
        point = Breakpoint(total, digest.hexdigest(), _ttl_s(control), len(every))
        every.append(point)
        if isinstance(control, dict):
            found.append(point)

    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        visit(tool, _tool_tokens(tool), tool.get("cache_control") if isinstance(tool, dict) else None)
    system = _system_blocks(body.get("system"))
    if system:
        total += 3
    for block in system:
        visit(block, _block_tokens(block), block.get("cache_control") if isinstance(block, dict) else None)
    for m_index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        total += 3
        digest.update(orjson.dumps(message.get("role")))
        blocks = _blocks(message.get("content"))
        for b_index, block in enumerate(blocks):
            control = block.get("cache_control") if isinstance(block, dict) else None
            is_last = m_index == len(messages) - 1 and b_index == len(blocks) - 1
            if control is None and is_last and isinstance(top_level, dict):
                control = top_level
            visit(block, _block_tokens(block), control)
    return total + 3, found, every


def _numeric_markers(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    if "[[" in text:
        for name, value in _NUMBER.findall(text):
            found.setdefault(name, int(value))
    return found


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """All input tokens of a request (cached or not), as count_tokens reports them."""
    messages = _messages_of(body)
    prompt = _numeric_markers(_last_user_text(messages)).get("prompt")
    return prompt if prompt is not None else _walk(body)[0]


def breakpoints(body: Mapping[str, Any]) -> list[Breakpoint]:
    """The request's cache breakpoints (counts capped by a `[[prompt=N]]` total)."""
    total = count_input_tokens(body)
    return [Breakpoint(min(b.tokens, total), b.prefix_hash, b.ttl_s, b.block) for b in _walk(body)[1]]


def lookup_points(body: Mapping[str, Any]) -> list[Breakpoint]:
    """Every block prefix a cache read may start from: each breakpoint and the `LOOKBACK_BLOCKS` blocks
    before it (counts capped by a `[[prompt=N]]` total)."""
    total = count_input_tokens(body)
    _, found, every = _walk(body)
    blocks = {i for b in found for i in range(max(b.block - LOOKBACK_BLOCKS + 1, 0), b.block + 1)}
    return [Breakpoint(min(p.tokens, total), p.prefix_hash, p.ttl_s, p.block) for p in every if p.block in blocks]


# -- the cache split -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheSplit:
    input_tokens: int
    cache_read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def cache_creation(self) -> int:
        return self.write_5m + self.write_1h


def cache_split(body: Mapping[str, Any], cached: Collection[str] = ()) -> CacheSplit:
    """How the input divides into uncached, read and written tokens, given the prefix hashes already cached."""
    messages = _messages_of(body)
    total = count_input_tokens(body)
    markers = _numeric_markers(_last_user_text(messages))
    if {"cache_read", "cache_write_5m", "cache_write_1h"} & markers.keys():
        read = min(markers.get("cache_read", 0), total)
        w5 = min(markers.get("cache_write_5m", 0), total - read)
        w1 = min(markers.get("cache_write_1h", 0), total - read - w5)
        return CacheSplit(total - read - w5 - w1, read, w5, w1)
    points = breakpoints(body)
    hits = [p for p in lookup_points(body) if p.prefix_hash in cached]
    read_at = max(hits, key=lambda p: p.block) if hits else None
    read = read_at.tokens if read_at is not None else 0
    w5 = w1 = 0
    previous = read
    for point in points:
        if read_at is not None and point.block <= read_at.block:
            continue
        segment = max(point.tokens - previous, 0)
        if point.ttl_s == ONE_HOUR_S:
            w1 += segment
        else:
            w5 += segment
        previous = max(previous, point.tokens)
    return CacheSplit(total - read - w5 - w1, read, w5, w1)


# -- the answer ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Everything a message's blocks and usage depend on, decided before the first byte."""

    split: CacheSplit
    thinking: bool
    thinking_tokens: int
    text_tokens: int
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str
    stop_sequence: str | None = None
    web_search_requests: int = 0
    refusal: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output_tokens(self) -> int:
        return self.thinking_tokens + self.text_tokens + TOOL_USE_TOKENS * len(self.tool_calls)

    @property
    def delta_events(self) -> int:
        """Content deltas of the stream: one per thinking or text token, two per tool_use."""
        return self.thinking_tokens + self.text_tokens + 2 * len(self.tool_calls)

    def usage(self, *, service_tier: str = "standard") -> dict[str, Any]:
        """The `usage` object of a complete answer."""
        usage: dict[str, Any] = {
            "input_tokens": self.split.input_tokens,
            "cache_creation_input_tokens": self.split.cache_creation,
            "cache_read_input_tokens": self.split.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.split.write_5m,
                "ephemeral_1h_input_tokens": self.split.write_1h,
            },
            "output_tokens": self.output_tokens,
            "service_tier": service_tier,
        }
        if self.web_search_requests:
            usage["server_tool_use"] = {"web_search_requests": self.web_search_requests, "web_fetch_requests": 0}
        return usage


def _required_int(body: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = body.get(name)
    if value is None:
        raise bad_request(f"{name}: Field required", param=name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_request(f"{name}: Input should be an integer >= {minimum}", param=name)
    return value


def validate_request(
    body: Mapping[str, Any], *, for_count: bool = False, betas: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Check what the real API checks and the relay could get wrong; return the messages. `betas` are the
    request's `anthropic-beta` flags (a relay that drops them makes beta-only shapes fail here).

    Raises:
        MockHTTPError: 400 naming the field.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required", param="model")
    if not for_count:
        _required_int(body, "max_tokens", minimum=1)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: Field required (a non-empty list)", param="messages")
    roles = ("user", "assistant", "system") if SYSTEM_ROLE_BETAS & set(betas) else ("user", "assistant")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise bad_request(f"messages.{index}.role: Input should be 'user' or 'assistant'", param="messages")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise bad_request(f"messages.{index}.content: Input should be a string or a list", param="messages")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1
    ):
        raise bad_request("temperature: Input should be between 0 and 1", param="temperature")
    _check_tool_pairs(messages)
    _check_thinking(body)
    return messages


def _tool_use_ids(message: Mapping[str, Any]) -> list[str]:
    return [
        str(b.get("id")) for b in _blocks(message.get("content")) if isinstance(b, dict) and b.get("type") == "tool_use"
    ]


def _check_tool_pairs(messages: Sequence[dict[str, Any]]) -> None:
    """Every tool_use must be answered by a tool_result in the very next message, as the real API demands."""
    for index, message in enumerate(messages):
        results = [
            str(b.get("tool_use_id"))
            for b in _blocks(message.get("content"))
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        previous = (
            _tool_use_ids(messages[index - 1]) if index > 0 and messages[index - 1]["role"] == "assistant" else []
        )
        unexpected = [r for r in results if r not in previous]
        if unexpected:
            raise bad_request(
                f"messages.{index}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(unexpected)}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message.",
                param="messages",
            )
        if message["role"] != "assistant":
            continue
        uses = _tool_use_ids(message)
        following = messages[index + 1] if index + 1 < len(messages) else None
        if not uses or following is None:
            continue
        answered = {
            str(b.get("tool_use_id"))
            for b in _blocks(following.get("content"))
            if isinstance(b, dict) and b.get("type") == "tool_result"
        }
        missing = [u for u in uses if u not in answered]
        if missing:
            raise bad_request(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in "
                "the next message.",
                param="messages",
            )


def _check_thinking(body: Mapping[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "adaptive", "disabled"):
        raise bad_request("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'", param="thinking")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        max_tokens = body.get("max_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1024:
            raise bad_request("thinking.enabled.budget_tokens: Input should be >= 1024", param="thinking")
        if isinstance(max_tokens, int) and budget >= max_tokens:
            raise bad_request("`max_tokens` must be greater than `thinking.budget_tokens`", param="max_tokens")


def schema_value(schema: object) -> object:
    """A deterministic value that satisfies a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return "lorem"
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        return {name: schema_value(sub) for name, sub in properties.items()}
    if kind == "array":
        return [schema_value(schema.get("items"))]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), "lorem")


def _client_tools(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    return [
        t
        for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, dict) and t.get("type") in (None, "custom") and isinstance(t.get("name"), str)
    ]


def _tool_calls(body: Mapping[str, Any], count: int, id_seed: str, name: str | None = None) -> tuple[ToolCall, ...]:
    tools = [t for t in _client_tools(body) if name is None or t["name"] == name]
    if not tools:
        return ()
    calls = []
    for index in range(count):
        tool = tools[index % len(tools)]
        value = schema_value(tool.get("input_schema") or {"type": "object"})
        call_id = "toolu_" + hashlib.sha256(f"{id_seed}:{index}".encode()).hexdigest()[:24]
        calls.append(ToolCall(call_id, tool["name"], value if isinstance(value, dict) else {}))
    return tuple(calls)


def _thinking_wanted(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def plan_message(
    body: Mapping[str, Any],
    cached: Collection[str] = (),
    *,
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
    id_seed: str = "",
    betas: Collection[str] = (),
) -> MessagePlan:
    """Decide a message's blocks and usage (`cached`: the prefix hashes this upstream key has cached).

    Raises:
        MockHTTPError: 400 for an invalid request.
    """
    messages = validate_request(body, betas=betas)
    last = _last_user_text(messages)
    markers = _numeric_markers(last)
    cap: int = body["max_tokens"]
    thinking = _thinking_wanted(body)
    want_thinking = markers.get("reasoning", DEFAULT_THINKING_TOKENS) if thinking else 0
    want_text = markers.get("len", default_completion_tokens)
    tool_match = _TOOL_USE.search(last)
    if tool_match is None:
        want_tools: tuple[ToolCall, ...] = ()
    elif tool_match.group(2):  # [[tool_use:Name]]: one call of that tool
        want_tools = _tool_calls(body, 1, id_seed, tool_match.group(2))
    else:
        want_tools = _tool_calls(body, int(tool_match.group(1) or 1), id_seed)
    reasoning = min(want_thinking, cap)
    text = min(want_text, cap - reasoning)
    room = cap - reasoning - text
    fitting = want_tools[: max(room // TOOL_USE_TOKENS, 0)]
    truncated = reasoning < want_thinking or text < want_text or len(fitting) < len(want_tools)
    stop_sequence = None
    refusal = "[[refusal]]" in last
    if truncated:
        stop = "max_tokens"
    elif fitting:
        stop = "tool_use"
    elif refusal:
        stop = "refusal"
    elif "[[stop]]" in last and isinstance(body.get("stop_sequences"), list) and body["stop_sequences"]:
        stop, stop_sequence = "stop_sequence", str(body["stop_sequences"][0])
    else:
        stop = "end_turn"
    return MessagePlan(
        split=cache_split(body, cached),
        thinking=thinking,
        thinking_tokens=reasoning,
        text_tokens=text,
        tool_calls=fitting,
        stop_reason=stop,
        stop_sequence=stop_sequence,
        web_search_requests=markers.get("web_search", 0),
        refusal=refusal,
    )


def expected_message_usage(
    body: Mapping[str, Any],
    *,
    warm: bool = False,
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
) -> dict[str, Any]:
    """The `usage` the mock reports for `body`: with a cold cache, or (`warm`) with every prefix cached."""
    cached: Iterable[str] = [b.prefix_hash for b in breakpoints(body)] if warm else ()
    return plan_message(body, frozenset(cached), default_completion_tokens=default_completion_tokens).usage()


def thinking_signature(key: str, model: str, thinking: str) -> str:
    """The signature of a thinking block: bound to the upstream key and the model, as Anthropic's are to the
    account and model, so a conversation moved to another key fails on its thinking blocks."""
    mac = hmac.new(key.encode(), f"{model}\n{thinking}".encode(), hashlib.sha256).digest()
    return "mocksig" + base64.b64encode(mac * 2).decode()
