"""The one settings object. Read once per execution environment; tests pass values to the constructor.

Environment variables carry names and ARNs (``TOLLWAY_ACCOUNTS_TABLE``…), never provider keys: those
live in Secrets Manager and are fetched lazily with a TTL cache.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Configuration of every tollway function and of the local stack."""

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_", extra="forbid", frozen=True)

    # Where the state lives. The defaults are the template's logical ids, which is what the local
    # emulator names its tables; on AWS the template passes the real names.
    accounts_table: str = "AccountsTable"
    keys_table: str = "KeysTable"
    holds_table: str = "HoldsTable"
    ledger_table: str = "LedgerTable"
    usage_table: str = "UsageTable"
    config_table: str = "ConfigTable"
    secrets_prefix: str = "tollway/local/"
    region: str = "us-east-1"
    aws_endpoint_url: str | None = Field(default=None, description="Emulator endpoint (local stack only).")
    stage: str = "local"
    price_file: str | None = Field(
        default=None, description="A price file merged over the shipped one (before operator overrides)."
    )

    # Requests.
    max_request_bytes: int = Field(
        default=4_000_000,
        description="Body limit; below the ≈4.4 MB API Gateway/Lambda allow once base64 is counted.",
    )
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])

    # Billing.
    min_answer_tokens: int = 16
    default_max_output_tokens: int = Field(default=4096, description="Output bound for models with no known maximum.")
    min_answer_tokens_reasoning: int = 1024
    default_group: str = "default"
    signup_credit_usd: str = "0.20"
    usage_ttl_days: int = Field(default=0, description="0 keeps usage records forever.")
    usage_day_shards: int = 8
    settle_after_answer: bool = Field(
        default=True,
        description=(
            "Non-streaming answers go out before their settle transaction (one store round trip less "
            "for the client). Only where the process outlives its responses (local stack, volume mode): "
            "a Lambda function may be frozen as soon as its answer is sent, so the template sets false."
        ),
    )

    # Caches (seconds).
    key_cache_ttl_s: float = 60.0
    negative_key_cache_ttl_s: float = 5.0
    config_cache_ttl_s: float = 30.0
    secret_cache_ttl_s: float = 300.0

    # Upstreams.
    upstream_connect_timeout_s: float = 10.0
    upstream_read_timeout_s: float = 600.0
    # One process may hold many streams (volume mode, docs/cost.md): each open stream holds one upstream
    # connection, so the pool must not be the limit; idle connections kept for reuse spare a TCP (and
    # TLS) handshake per request. On Lambda one environment serves one request and neither matters.
    upstream_max_connections: int = Field(default=4096, ge=1)
    upstream_max_keepalive: int = Field(default=1024, ge=0)
    max_channel_attempts: int = 3
    # A REGIONAL API Gateway cuts a response after 5 idle minutes, the wait for the first byte
    # included: a non-streaming call gets a clear 504 just before that.
    non_stream_deadline_s: float = 290.0
    heartbeat_s: float = 15.0
    max_request_duration_s: float = 870.0
    # How long a worker thread (boto3) may hold the GIL before the event loop gets it back to forward
    # a chunk (Python's default is 5 ms; 1 ms cut the worst chunk delay at C=16 from 7–9 ms to 3 ms at
    # no measurable CPU cost — docs/benchmark.md). 0 leaves the interpreter's setting alone.
    gil_switch_interval_ms: float = Field(default=1.0, ge=0, le=100)
    # Worker threads for blocking store calls (boto3). Each waits out one round trip, so the number
    # needed is the rate of store calls × their latency, with room for bursts (docs/benchmark.md).
    store_threads: int = Field(default=128, ge=1, le=4096)
    # Who sends the hot-path store calls (transactions, single items, queries): tollway's thin JSON-protocol
    # client (same requests and answers, ≈55% less CPU per call) or boto3; docs/store-client.md.
    store_client: Literal["boto3", "wire"] = "wire"
    # One SSE event is held whole while it is metered. Image streams carry a whole image per event:
    # gpt-image-2's largest (3840×2160, 8.3 MP) as an incompressible RGBA PNG is 33 MB, 44 MB in base64.
    max_sse_event_bytes: int = 48 * 1024 * 1024

    # The rest of the OpenAI surface (docs/openai-endpoints.md).
    responses_store_ttl_days: int = Field(default=31, description="How long a stored response's channel is kept.")
    responses_max_tool_calls: int = Field(
        default=4, description="max_tool_calls tollway sets when a request with server-side tools has none."
    )
    responses_tool_result_tokens: int = Field(
        default=8_000, description="Input tokens each built-in tool call may add to later turns (reservation)."
    )
    responses_image_tool_model: str = Field(
        default="gpt-image-2", description="Image model set on an image_generation tool that names none."
    )
    audio_min_bytes_per_s: int = Field(
        default=1_000, description="Duration bound of audio tollway cannot measure: its size at 8 kbit/s."
    )
    usage_sum_max_records: int = Field(
        default=100_000, description="Records a customer's spend total reads at most (the answer says if cut)."
    )

    # Images.
    image_partial_output_tokens: int = Field(
        default=100,
        ge=0,
        description="Image-output tokens billed per partial image relayed; 0 if the upstream's usage includes them.",
    )

    # Maintenance.
    hold_timeout_s: float = Field(default=960.0, description="Open holds older than this are orphans.")
    settled_grace_s: float = Field(default=60.0, description="Settled markers older than this are repaired.")

    # The local stack's admin transport (AWS uses IAM instead).
    admin_secret: SecretStr | None = None

    # Operator surface (docs/operator.md).
    codes_table: str = "CodesTable"
    export_bucket: str = Field(default="exportbucket", description="Bucket of usage exports (local: exportbucket).")
    export_link_ttl_s: int = Field(default=3600, description="Lifetime of an export's presigned link.")
    export_max_rows: int = 1_000_000
    alerts_topic_arn: str | None = Field(default=None, description="SNS topic of the maintenance report.")
    low_balance_usd: str = Field(default="1.00", description="Maintenance reports active accounts below this.")

    # Midjourney relay (docs/midjourney.md). Operators may override the mj_* defaults at run time with
    # `tollway admin mj settings`; these are the deployment's defaults.
    tasks_table: str = "TasksTable"
    mj_public_base_url: str | None = Field(
        default=None, description="Public base URL of this API (callback and image links); else derived."
    )
    mj_default_mode: str = "fast"
    mj_default_image_mode: str = "relay"
    mj_image_proxy_base: str | None = None
    mj_image_bucket: str | None = Field(default=None, description="Bucket of relay-mode image copies.")
    mj_image_prefix: str = "mj-images/"
    mj_image_max_bytes: int = 20_000_000
    mj_image_link_ttl_s: int = 7 * 86400
    mj_task_timeout_s: float = 3600.0
    mj_refresh_after_s: float = 10.0
    mj_task_ttl_days: int = 90
    mj_upstream_timeout_s: float = 60.0
    mj_hook_timeout_s: float = 10.0

    # The customer console (docs/console.md). Sign-up, verification and branding can be changed at run
    # time with `tollway admin console settings`; these are the deployment's defaults.
    console_enabled: bool = Field(default=True, description="Serve the customer console at / (false: API only).")
    console_table: str = "ConsoleTable"
    console_signup: Literal["open", "closed", "invite"] = "open"
    console_email_verification: bool = False
    console_site_name: str = "tollway"
    console_mail_from: str | None = Field(default=None, description="SES sender of verification mail (AWS).")
    console_session_ttl_s: int = Field(default=7 * 86400, ge=300, description="A console session's lifetime.")
    console_argon2_memory_kib: int = Field(default=65536, ge=8192, description="argon2id memory cost (64 MiB).")
    console_argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    console_signup_ip_limit: int = Field(default=5, ge=1, description="Sign-ups per client address per hour.")
    console_signin_ip_limit: int = Field(default=30, ge=1, description="Sign-in attempts per address per 15 min.")

    # The SSRF guard of every customer-supplied URL tollway fetches or calls (tollway/ssrf.py).
    ssrf_allow: list[str] = Field(
        default_factory=list, description="Origins (scheme://host:port) exempt from the address checks."
    )
    ssrf_allow_http: bool = False
    ssrf_ports: list[int] = Field(default_factory=lambda: [80, 443, 8080, 8443])
    ssrf_max_redirects: int = 3


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
