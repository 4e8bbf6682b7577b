"""Configuration of the mock upstream: one frozen object, passed to `create_mock_app`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

DEFAULT_MODELS: tuple[str, ...] = ("gpt-6.2-sol", "gpt-5.4-mini", "gpt-4o-mini", "mock-model")
#: What `GET /v1/models` lists to a request carrying `anthropic-version` (Anthropic's model shape).
DEFAULT_ANTHROPIC_MODELS: tuple[str, ...] = (
    "claude-fable-5-2",
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-sonnet-4-6",
    "claude-haiku-4-5-20251001",
)

#: Hard cap on every "wait until the client gives up" fault (`timeout`, `stall_after`).
MAX_STALL_S = 900.0


@dataclass(frozen=True, slots=True)
class MockConfig:
    """How the mock behaves when a request does not say otherwise.

    `latency_ms` is the wait before the first token; `tokens_per_s` the pace after it
    (`<= 0` or `inf` means unpaced: every token is sent as soon as possible).
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    anthropic_models: tuple[str, ...] = DEFAULT_ANTHROPIC_MODELS
    #: When set, requests must carry exactly this key (Bearer or `api-key`); otherwise any non-empty key passes.
    api_key: str | None = None
    latency_ms: float = 300.0
    tokens_per_s: float = 30.0
    #: Completion length when the request has neither `[[len=N]]` nor a max-tokens field.
    default_completion_tokens: int = 24
    #: How many requests `/_mock/stats` keeps in `requests_log`.
    log_size: int = 200
    #: Bodies larger than this are logged as `{"_omitted_bytes": n}` instead of parsed JSON.
    log_body_max_bytes: int = 1_000_000
    max_stall_s: float = MAX_STALL_S
    #: Extra (name, value) headers on every response.
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    #: Fault modes every request gets (a whole server that fails, e.g. `("http529",)`), before the
    #: per-channel (path), per-request (header) and marker faults.
    faults: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or math.isnan(self.latency_ms):
            raise ValueError("latency_ms must be >= 0")
        if math.isnan(self.tokens_per_s):
            raise ValueError("tokens_per_s must be a number")
        if self.default_completion_tokens < 0:
            raise ValueError("default_completion_tokens must be >= 0")
        if self.log_size < 0:
            raise ValueError("log_size must be >= 0")

    @classmethod
    def fast(cls, **overrides: object) -> MockConfig:
        """No latency, unpaced tokens: what tests and the benchmark want."""
        return replace(cls(latency_ms=0.0, tokens_per_s=0.0), **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Pacing:
    """The pace of one request (config defaults, possibly overridden by `X-Mock-*` headers)."""

    latency_s: float
    #: Seconds per token; 0.0 means unpaced.
    token_interval_s: float

    @classmethod
    def of(cls, latency_ms: float, tokens_per_s: float) -> Pacing:
        interval = 0.0 if tokens_per_s <= 0 or math.isinf(tokens_per_s) else 1.0 / tokens_per_s
        return cls(latency_s=latency_ms / 1000.0, token_interval_s=interval)

    @property
    def paced(self) -> bool:
        return self.latency_s > 0 or self.token_interval_s > 0

    def delay_before(self, step: int, *, reasoning_tokens: int = 0) -> float:
        """Seconds from the start of the response until token `step` (0-based) is due."""
        return self.latency_s + (reasoning_tokens + step) * self.token_interval_s
