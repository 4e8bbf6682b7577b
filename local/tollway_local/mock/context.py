"""`MockRequest`: everything an endpoint handler gets, and the `Endpoint` registration record."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope

if TYPE_CHECKING:
    from tollway_local.mock.config import MockConfig, Pacing
    from tollway_local.mock.faults import Faults
    from tollway_local.mock.stats import MockStats, RequestRecord


@dataclass(slots=True)
class MockRequest:
    """One parsed request. `body` is the parsed JSON object when the endpoint takes JSON, else None."""

    scope: Scope
    receive: Receive
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    faults: Faults
    pacing: Pacing
    config: MockConfig
    stats: MockStats
    record: RequestRecord

    @property
    def request_id(self) -> str:
        return self.record.mock_request_id


#: A handler gets the request (faults already parsed, error/timeout/slow_first faults already applied) and
#: returns the ASGI response to run — usually a `JSONResult` or an `EventStream` — or raises `MockHTTPError`.
Handler = Callable[[MockRequest], Awaitable[ASGIApp]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route of the mock, matched on the path suffix so any prefix (`/v1`, `/fault/MODE/v1`, none) works."""

    #: Path suffix, e.g. "/chat/completions"; the longest matching suffix wins.
    suffix: str
    methods: frozenset[str]
    handler: Handler
    #: Parse the body as a JSON object (400 `invalid_json` otherwise) into `MockRequest.body`.
    json_body: bool = True
    #: Where `[[fault:MODE]]` markers are looked for, given the parsed body.
    fault_texts: Callable[[Any], Iterable[str]] | None = None
    #: Match the path with this regex instead of the suffix (ids in the path, e.g. `/responses/{id}`);
    #: `suffix` is then only the label the request log shows.
    pattern: re.Pattern[str] | None = None
    #: Whose wire format the endpoint speaks: "openai", "anthropic" (errors in Anthropic's shape, `x-api-key`
    #: and `anthropic-version` required), or "auto" (Anthropic's when the request has `anthropic-version`).
    dialect: str = "openai"
