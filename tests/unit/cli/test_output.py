"""Human output: USD, ISO-8601 UTC, tables within 100 columns, nested values summarised."""

from __future__ import annotations

import io
from typing import Any

from tollway_cli.output import render


def _record(n: int) -> dict[str, Any]:
    return {
        "request_id": f"req_01JF{n:04d}ABCDEFGHJKMNPQRS",
        "created_at": 1_796_000_000_123,
        "account_id": "acct_0123456789abcdef",
        "key_id": "key_0123456789abcdef",
        "endpoint": "/v1/chat/completions",
        "status": "ok",
        "http_status": 200,
        "model": "gpt-4.1-mini",
        "upstream_model": "gpt-4.1-mini-2025-04-14",
        "channel_id": "ch_0123456789",
        "tokens": {"input": 12, "output": 40, "cached_input": 0},
        "units": {"images": [{"size": "1024x1024", "quality": "high"}]},
        "hold": 2_000,
        "charge": 61,
        "entry_ids": ["e1", "e2"],
        "time": "2026-12-01T00:53:20.123+00:00",
    }


def _render(result: Any, **kwargs: Any) -> str:
    out = io.StringIO()
    render(result, out, **kwargs)
    return out.getvalue()


def test_a_table_fits_100_columns_and_names_what_it_left_out() -> None:
    text = _render({"records": [_record(1), _record(2)], "next_cursor": None})
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "$0.000061" in text and " 61 " not in text
    assert "more columns:" in text and "--wide" in text


def test_wide_shows_every_column_whole() -> None:
    text = _render([_record(1)], wide=True)
    assert "more columns" not in text
    assert '"cached_input":0' in text and "req_01JF0001ABCDEFGHJKMNPQRS" in text


def test_money_and_times_of_single_values() -> None:
    text = _render({"balance": 10_000_000, "created_at": 1_796_000_000_000, "expires_at": 1_798_761_600, "rpm": 60})
    assert "balance: $10.00" in text
    assert "created_at: 2026-11-30T00:53:20Z" in text
    assert "expires_at: 2027-01-01T00:00:00Z" in text
    assert "rpm: 60" in text


def test_nested_values_are_summarised_not_cut_mid_word() -> None:
    text = _render([{"id": "x", "tokens": {"input": 12, "output": 40}, "units": {"images": [{"a": 1}] * 4}}])
    assert "{input=12 output=40}" in text
    assert "{images=[4 items]}" in text


def test_negative_amounts_keep_their_sign() -> None:
    assert "difference: -$0.000005" in _render({"difference": -5})


def test_ids_are_never_cut() -> None:
    long_id = "req_01M94PTRHFRVBBYPM7VXFE4Y8B"
    text = _render([{"request_id": long_id, "note": "x" * 60}])
    assert long_id in text and "x" * 60 not in text


def test_a_price_list_shows_whole_model_names_and_input_output_and_markup_first() -> None:
    row = {
        "model": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        "source": "shipped",
        "input_per_1m": "1.00",
        "cached_input_per_1m": "0.10",
        "cache_write_per_1m": "1.25",
        "cache_write_1h_per_1m": "2.00",
        "output_per_1m": "5.00",
        "per_call": None,
        "context_window": 200000,
        "max_output_tokens": 64000,
        "endpoints": ["messages", "chat.completions"],
        "markup": "2",
    }
    text = _render([row, {**row, "model": "gpt-4o-mini-transcribe-2025-12-15"}])
    header = text.splitlines()[0].split()
    assert {"model", "input_per_1m", "output_per_1m", "markup"} <= set(header)  # before cache and limits
    assert "cache_write_1h_per_1m" not in header and "cache_write_1h_per_1m" in text  # named under the table
    assert "global.anthropic.claude-haiku-4-5-20251001-v1:0" in text and "gpt-4o-mini-transcribe-2025-12-15" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_time_of_zero_reads_never() -> None:
    text = _render({"status_changed_at": 0, "created_at": 1_796_000_000_000})
    assert "status_changed_at: never" in text and "created_at: 2026-11-30T00:53:20Z" in text


def test_an_amount_is_shown_once_not_also_as_its_usd_string() -> None:
    text = _render({"balance": 10_000_000, "balance_usd": "10.00", "limit_usd": "5.00"})
    assert "balance: $10.00" in text and "balance_usd" not in text
    assert "limit_usd: 5.00" in text  # no micro-USD twin: kept
    table = _render([{"day": "2026-12-06", "charge": 228, "charge_usd": "0.000228"}])
    assert "$0.000228" in table and "charge_usd" not in table
    assert "balance_usd: 10.00" in _render({"balance_usd": "10.00"})  # alone, it is the amount
    assert "remaining_usd: 1.50" in _render({"remaining": None, "remaining_usd": "1.50"})
