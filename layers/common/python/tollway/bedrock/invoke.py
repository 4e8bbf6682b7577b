"""Claude on Bedrock with the native Anthropic body: InvokeModel / InvokeModelWithResponseStream.

The request is Anthropic's Messages body minus ``model`` and ``stream`` (both are in the URL), with
``anthropic_version: bedrock-2023-05-31`` and the ``anthropic-beta`` flags moved into the body's
``anthropic_beta`` list — only the flags Bedrock accepts (it refuses the request for an unknown one;
Claude Code sends several that only Anthropic's API knows). The answer is Anthropic's own: the plain
JSON message, or one ``chunk`` frame per Anthropic stream event (base64 JSON), re-sent to the client
as the ``event:`` + ``data:`` lines Anthropic's API uses. Cache control, thinking and tools therefore
pass through untouched.

Usage comes from Claude's own ``message_start`` / ``message_delta`` events. Bedrock also appends
``amazon-bedrock-invocationMetrics`` to the last event; it is taken off the client's copy and used
only when the ``message_delta`` carried no output count.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from tollway.bedrock.eventstream import Frame
from tollway.upstream.failures import scrub

__all__ = ["BEDROCK_ANTHROPIC_VERSION", "DEFAULT_BETA_FLAGS", "InvokeStreamTranslator", "invoke_body", "is_claude"]

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
# Beta flags Bedrock's Claude models accept (AWS "Anthropic Claude Messages API" parameters page);
# an operator can replace the list per channel (setting ``beta_flags``).
DEFAULT_BETA_FLAGS = frozenset(
    {
        "computer-use-2024-10-22",
        "computer-use-2025-01-24",
        "computer-use-2025-11-24",
        "token-efficient-tools-2025-02-19",
        "interleaved-thinking-2025-05-14",
        "output-128k-2025-02-19",
        "dev-full-thinking-2025-05-14",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "effort-2025-11-24",
        "tool-search-tool-2025-10-19",
        "tool-examples-2025-10-29",
    }
)
# Fields of Anthropic's body that Bedrock's Claude endpoint does not take (it refuses extra fields).
_NOT_ON_BEDROCK = ("model", "stream", "metadata", "service_tier", "container", "mcp_servers")
_METRICS = "amazon-bedrock-invocationMetrics"


def is_claude(model_id: str) -> bool:
    """Whether a Bedrock model id, inference profile (``us.…``/``global.…``) or ARN names a Claude model."""
    return "anthropic.claude" in model_id


def beta_flags(header: str | None, allowed: frozenset[str]) -> list[str]:
    """The ``anthropic-beta`` header's flags that Bedrock accepts, in order, once each."""
    flags: list[str] = []
    for flag in (header or "").split(","):
        flag = flag.strip()
        if flag and flag in allowed and flag not in flags:
            flags.append(flag)
    return flags


def invoke_body(anthropic: dict[str, Any], betas: list[str]) -> dict[str, Any]:
    body = {k: v for k, v in anthropic.items() if k not in _NOT_ON_BEDROCK}
    body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    if betas:
        body["anthropic_beta"] = betas
    return body


def _sse(kind: str, data: bytes) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


class InvokeStreamTranslator:
    """``chunk`` frames → Anthropic SSE bytes; an exception frame → an Anthropic ``error`` event."""

    def __init__(self) -> None:
        self._held: dict[str, Any] | None = None  # the message_delta, until the next event
        self.metrics: dict[str, Any] | None = None

    def on_frame(self, frame: Frame) -> bytes:
        if frame.message_type != "event":
            return self._release() + error_event(frame)
        if frame.event_type != "chunk":
            return b""
        try:
            raw = base64.b64decode(orjson.loads(frame.payload)["bytes"])
            event = orjson.loads(raw)
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error):
            return self._release() + _sse(
                "error", b'{"type":"error","error":{"type":"api_error","message":"malformed upstream event"}}'
            )
        if not isinstance(event, dict):
            return b""
        kind = str(event.get("type") or "")
        metrics = event.pop(_METRICS, None)
        if isinstance(metrics, dict):
            self.metrics = metrics
            raw = orjson.dumps(event)
        if kind == "message_delta":
            out = self._release()
            self._held = event
            return out
        return self._release() + _sse(kind, raw)

    def _release(self) -> bytes:
        held, self._held = self._held, None
        if held is None:
            return b""
        usage = held.get("usage")
        if self.metrics is not None and not (isinstance(usage, dict) and usage.get("output_tokens")):
            filled = dict(usage) if isinstance(usage, dict) else {}
            filled["output_tokens"] = int(self.metrics.get("outputTokenCount") or 0)
            held["usage"] = filled
        return _sse("message_delta", orjson.dumps(held))

    def finish(self) -> bytes:
        return self._release()


_ERROR_TYPES = {
    "throttlingException": "rate_limit_error",
    "serviceUnavailableException": "overloaded_error",
    "validationException": "invalid_request_error",
}


def error_event(frame: Frame) -> bytes:
    """An exception frame mid-stream, as Anthropic's ``error`` event (its message kept short)."""
    try:
        message = str(orjson.loads(frame.payload).get("message") or "")
    except (orjson.JSONDecodeError, AttributeError):
        message = ""
    kind = _ERROR_TYPES.get(frame.event_type, "api_error")
    error = {"type": "error", "error": {"type": kind, "message": scrub(f"Bedrock {frame.event_type}: {message}", 300)}}
    return _sse("error", orjson.dumps(error))
