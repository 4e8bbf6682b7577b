"""What an endpoint tells the pipeline. The pipeline (route → auth → reserve → upstream → settle) is
the same for every endpoint; an endpoint only parses its body, bounds its cost, builds the upstream
body, and reads usage from a response or from stream events."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.sse import SSEEvent

__all__ = ["BrokenStream", "EndpointSpec", "Prepared", "StreamMeter"]


class BrokenStream(Exception):
    """The upstream stream broke (malformed event, mid-stream error); ``error`` is for the client."""

    def __init__(self, message: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class Prepared:
    """A parsed request, as the pipeline needs it."""

    model: str
    stream: bool
    body: dict[str, Any]
    input_bound: int
    requested_output: int | None = None
    choices: int = 1
    client_wants_usage: bool = False
    service_tier: str | None = None
    prompt_texts: list[str] = field(default_factory=list)
    messages: int = 0
    reasoning: bool = False  # set by the pipeline from the model's price entry


class StreamMeter(Protocol):
    usage: Usage | None
    done: bool
    produced_output: int

    def on_event(self, event: SSEEvent) -> bytes | None:
        """Bytes to forward for this event (possibly rewritten), or None to drop it.

        Raises:
            BrokenStream: the event is malformed or reports an upstream error.
        """


class EndpointSpec(Protocol):
    name: str  # the usage record's ``endpoint``, e.g. "chat.completions"
    upstream_path: str  # appended to the channel's base URL

    def prepare(self, data: Any, raw: bytes) -> Prepared:
        """Validate the client's JSON. Raises InvalidRequest."""

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget: ...

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> bytes: ...

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        """Usage of a complete (non-stream) response, or None if it carries none."""

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        """The best usage available when the upstream reported none."""

    def output_of(self, response: dict[str, Any]) -> int:
        """Output tokens visible in a complete response without usage (for the estimate)."""

    def meter(self, prepared: Prepared) -> StreamMeter: ...
