"""An estimate of AWS infrastructure cost per 1,000 relayed requests (list prices, us-east-1).

Prices are the public on-demand list prices as we read them for docs/benchmark.md (first volume
tier, no free tier, no Savings Plans). They are inputs, not measurements: check them before use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PRICES", "Prices", "cost_per_1000"]

GB = 1024**3


@dataclass(frozen=True, slots=True)
class Prices:
    region: str = "us-east-1"
    as_of: str = "2026-11-28"
    lambda_arm_gb_s: float = 0.0000133334  # USD per GB-second, arm64, first 7.5 billion GB-s/month
    lambda_request: float = 0.20 / 1e6  # USD per invocation
    lambda_stream_gb: float = 0.008  # USD per GB streamed beyond the first 6 MB of a response
    apigw_rest_request: float = 3.50 / 1e6  # USD per REST API call, first 333 million/month
    apigw_stream_unit_bytes: int = 10 * 1024 * 1024  # a streamed response is billed per started 10 MB
    dynamodb_wru: float = 0.625 / 1e6  # USD per on-demand write request unit (Standard table class)
    dynamodb_rru: float = 0.125 / 1e6  # USD per on-demand read request unit
    dynamodb_storage_gb_month: float = 0.25  # USD per GB-month (Standard), after the free 25 GB
    data_out_gb: float = 0.09  # USD per GB to the internet (first 10 TB/month, after the free 100 GB)
    logs_ingest_gb: float = 0.50  # CloudWatch Logs ingestion, USD per GB
    lambda_platform_log_bytes: int = 350  # START/END/REPORT lines Lambda writes per invocation (approx.)


PRICES = Prices()


def cost_per_1000(
    *,
    duration_ms: float,
    memory_mb: int,
    write_units: float,
    read_units: float,
    response_bytes: float,
    log_bytes: float = 0.0,
    stored_bytes: float = 0.0,
    prices: Prices = PRICES,
) -> dict[str, Any]:
    """USD per 1,000 requests, by line. `duration_ms` is the billed Lambda duration of one request
    (the whole invocation, upstream wait included); `stored_bytes` what one request adds to DynamoDB
    storage (shown as USD per month it is kept, not added to the total)."""
    n = 1000
    gb_s = memory_mb / 1024 * duration_ms / 1000
    stream_units = max(1, -(-int(response_bytes) // prices.apigw_stream_unit_bytes))
    streamed_beyond = max(0.0, response_bytes - 6 * 1024 * 1024)
    lines = {
        "lambda_duration": n * gb_s * prices.lambda_arm_gb_s,
        "lambda_requests": n * prices.lambda_request,
        "lambda_streaming": n * streamed_beyond / GB * prices.lambda_stream_gb,
        "api_gateway": n * stream_units * prices.apigw_rest_request,
        "dynamodb_writes": n * write_units * prices.dynamodb_wru,
        "dynamodb_reads": n * read_units * prices.dynamodb_rru,
        "data_transfer_out": n * response_bytes / GB * prices.data_out_gb,
        "cloudwatch_logs": n * (log_bytes + prices.lambda_platform_log_bytes) / GB * prices.logs_ingest_gb,
    }
    return {
        "inputs": {
            "duration_ms": duration_ms,
            "memory_mb": memory_mb,
            "write_units": write_units,
            "read_units": read_units,
            "response_bytes": response_bytes,
            "log_bytes": log_bytes,
        },
        "usd": lines,
        "total_usd": sum(lines.values()),
        "storage_usd_per_month_kept": n * stored_bytes / GB * prices.dynamodb_storage_gb_month,
    }


def prices_json(prices: Prices = PRICES) -> dict[str, Any]:
    return asdict(prices)
