"""The Responses stream meter: reads each event once — counts produced deltas and tool calls, takes usage
from the terminal event, and turns ``response.failed``/``error`` events into a broken (uncharged) stream."""

from __future__ import annotations

from typing import Any

from tollway.metering.responses_tools import tool_calls_of, usage_from_response
from tollway.metering.stream import OpenAIStreamEnd, StreamBroke, event_object
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent

__all__ = ["ResponsesMeter"]

_TERMINAL = frozenset({"response.completed", "response.incomplete"})


class ResponsesMeter(OpenAIStreamEnd):
    """Reads each Responses event once: counts produced deltas and tool calls, takes usage from the
    terminal event, and turns ``response.failed``/``error`` events into a broken (uncharged) stream."""

    def __init__(self, requested_tier: str | None) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.produced_output = 0
        self.tool_calls: dict[str, int] = {}
        self.final: dict[str, Any] | None = None  # the terminal event's response object
        self._tier = requested_tier

    def on_event(self, event: SSEEvent) -> bytes | None:
        data = event.data
        if data is None:
            return None  # upstream comments; tollway sends its own heartbeats
        chunk = event_object(data)
        kind = chunk.get("type") or event.event
        if not isinstance(kind, str):
            kind = None  # not a type any event has (and not hashable, for the set below)
        if kind == "error" or (kind is None and chunk.get("error")):
            raise StreamBroke("upstream error mid-stream", _error_of(chunk))
        if kind in _TERMINAL:
            response = chunk.get("response")
            if isinstance(response, dict):
                self.final = response
                self.usage = usage_from_response(response, self._tier)
                self.tool_calls = tool_calls_of(response)
            self.done = True
        elif kind == "response.failed":
            response = chunk.get("response")
            raise StreamBroke("the upstream response failed", _error_of(response if isinstance(response, dict) else {}))
        elif isinstance(kind, str) and kind.endswith(".delta"):
            self.produced_output += 1
        elif kind == "response.output_item.done":
            counted = tool_calls_of({"output": [chunk.get("item")]})
            for key, n in counted.items():
                self.tool_calls[key] = self.tool_calls.get(key, 0) + n
        return event.raw


def _error_of(chunk: dict[str, Any]) -> dict[str, Any] | None:
    error = chunk.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(chunk.get("message"), str):
        return {"message": chunk["message"], "code": chunk.get("code")}
    return None
