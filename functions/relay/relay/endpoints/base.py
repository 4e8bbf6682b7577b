"""What an endpoint tells the pipeline.

The pipeline (route → auth → reserve → upstream → settle) is the same for every endpoint. An endpoint
only says how to read its request, how to bound its cost, what to send upstream, and how to meter the
answer, in one of three response modes:

- ``json``: a complete JSON answer (held in memory; small answers such as chat completions);
- ``sse``: an event stream, forwarded event by event through a ``StreamMeter``;
- ``bytes``: any body (audio, large JSON), forwarded chunk by chunk through a ``ByteMeter`` with
  a bounded buffer (e.g. usage read from the tail of a multi-megabyte image answer).

The meters and usage parsers are pure domain code (``tollway.metering``): an endpoint here only picks
and configures them. This module and its neighbours keep the wire: validating the client's request,
building the upstream one, and the routes.

Optional hooks live on :class:`EndpointHooks`, which every endpoint inherits: each has a no-op default,
so the pipeline calls them directly and mypy checks every override:

- ``resolve(prepared, context) -> None`` — blocking, run in a worker thread right after ``prepare`` when
  the endpoint sets ``resolves``: an endpoint that needs stored state to bound or route a request (e.g.
  the channel that holds an earlier Responses answer) reads it here; it may set ``prepared.channel_ids``
  and raise a TollwayError.
- ``cost(prepared, price, usage, ratio) -> int`` — the charge in micro-USD, when one price is not enough
  (e.g. an image tool priced by another model); default ``cost_of(price, usage, ratio).micros``.
- ``succeeded(prepared, record) -> None`` — blocking, run in a worker thread (when the endpoint sets
  ``stores_on_success``) once a successful answer's usage is known and *before* its end reaches the
  client (json: before the body; sse: before the terminal events), so state a follow-up request needs is
  stored first. Errors are logged, never raised.
- ``render(prepared, parsed, raw) -> tuple[bytes, str]`` — json mode: the body and media type the
  client gets (default: the upstream's JSON as it came).

- ``priced_as`` (attribute, default None: the endpoint's ``name``) — the name the model's price entry
  must list in ``endpoints`` (e.g. Claude's Messages served by a GPT model is priced as chat completions).
- ``local_answer(prepared) -> bytes | None`` — json mode: an answer tollway gives itself instead of
  calling upstream (e.g. a token count estimated when no Anthropic channel can count); default None.

The two blocking hooks are switched on by a class flag rather than run as no-ops, because a worker
thread hop per request is measurable relay CPU.

Every stream meter says how its client's stream ends (``tail``) and breaks (``broken``): see
``tollway.metering.stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from tollway.auth import KeyContext
from tollway.metering.stream import ByteMeter, StreamMeter
from tollway.pricing.engine import OutputBudget, cost_of
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage
from tollway.records import UsageRecord

if TYPE_CHECKING:
    from relay.multipart import Form

__all__ = [
    "BodyKind",
    "EndpointHooks",
    "EndpointSpec",
    "Prepared",
    "RequestBody",
    "ResponseMode",
    "UpstreamBody",
]

BodyKind = Literal["json", "multipart"]
ResponseMode = Literal["json", "sse", "bytes"]


@dataclass(frozen=True)
class RequestBody:
    """The client's body: raw bytes, plus the parsed JSON or form, whichever the endpoint takes."""

    raw: bytes
    content_type: str
    json: Any = None
    form: Form | None = None


@dataclass(frozen=True)
class UpstreamBody:
    content: bytes
    content_type: str = "application/json"
    headers: dict[str, str] | None = None  # protocol headers forwarded unchanged (e.g. anthropic-beta)


@dataclass
class Prepared:
    """A parsed request, as the pipeline needs it."""

    model: str
    stream: bool
    body: dict[str, Any]
    input_bound: int
    requested_output: int | None = None
    has_output_limit: bool = True  # False: the endpoint has no output tokens to bound (embeddings, images…)
    choices: int = 1
    client_wants_usage: bool = False
    service_tier: str | None = None
    prompt_texts: list[str] = field(default_factory=list)
    messages: int = 0
    reasoning: bool = False  # set by the pipeline from the model's price entry
    form: Form | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # whatever else an endpoint needs later
    channel_ids: tuple[str, ...] | None = None  # only these channels may serve it (None: any that serves the model)
    affinity: str | None = None  # a conversation key: channels in its sticky (rendezvous) order, not at random
    format: str | None = None  # "native" | "converted", for the usage record


class EndpointHooks:
    """The optional hooks of an endpoint, each a no-op by default (see the module docstring)."""

    #: ``resolve`` reads stored state: run it (in a worker thread) for every request.
    resolves: ClassVar[bool] = False
    #: ``succeeded`` stores state a follow-up needs: run it (in a worker thread) after each success.
    stores_on_success: ClassVar[bool] = False
    #: The name the model's price entry must list in ``endpoints`` (None: the endpoint's ``name``).
    priced_as: str | None = None

    def resolve(self, prepared: Prepared, context: KeyContext) -> None:
        """Read stored state that bounds or routes the request (blocking). Raises TollwayError."""

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int:
        """The charge of ``usage`` in micro-USD."""
        return cost_of(price, usage, ratio).micros

    def succeeded(self, prepared: Prepared, record: UsageRecord) -> None:
        """Store what a follow-up request needs, before the answer's end reaches the client (blocking)."""

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]:
        """json mode: the body and media type the client gets."""
        return raw, "application/json"

    def local_answer(self, prepared: Prepared) -> bytes | None:
        """json mode: an answer tollway gives itself instead of calling upstream (None: call upstream)."""
        return None


class EndpointSpec(Protocol):
    """What an endpoint tells the pipeline; implementations inherit :class:`EndpointHooks` for the hooks."""

    name: str  # the usage record's ``endpoint``, e.g. "chat.completions"
    upstream_path: str  # appended to the channel's base URL
    body_kind: BodyKind

    def prepare(self, body: RequestBody) -> Prepared:
        """Validate the client's request. Raises InvalidRequest."""

    def budget(self, prepared: Prepared, price: ModelPrice, ratio: Decimal) -> OutputBudget: ...

    def upstream_body(self, prepared: Prepared, output_limit: int | None, upstream_model: str) -> UpstreamBody: ...

    def response_mode(self, prepared: Prepared) -> ResponseMode: ...

    # -- json mode --
    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        """Usage of a complete response, or None if it carries none."""

    def output_of(self, response: dict[str, Any]) -> int:
        """Output tokens visible in a complete response without usage (for the estimate)."""

    def estimate(self, prepared: Prepared, output_tokens: int) -> Usage:
        """The best usage available when the upstream reported none."""

    # -- sse mode --
    def meter(self, prepared: Prepared) -> StreamMeter: ...

    # -- bytes mode --
    def byte_meter(self, prepared: Prepared) -> ByteMeter: ...

    # -- hooks (defaults in EndpointHooks) --
    @property
    def resolves(self) -> bool: ...

    @property
    def stores_on_success(self) -> bool: ...

    @property
    def priced_as(self) -> str | None: ...

    def resolve(self, prepared: Prepared, context: KeyContext) -> None: ...

    def cost(self, prepared: Prepared, price: ModelPrice, usage: Usage, ratio: Decimal) -> int: ...

    def succeeded(self, prepared: Prepared, record: UsageRecord) -> None: ...

    def render(self, prepared: Prepared, parsed: dict[str, Any], raw: bytes) -> tuple[bytes, str]: ...

    def local_answer(self, prepared: Prepared) -> bytes | None: ...
