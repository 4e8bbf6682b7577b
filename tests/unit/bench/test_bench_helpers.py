"""The benchmark's pure helpers (the benchmark itself is `python -m bench`, never a test)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.__main__ import parse_cells
from bench.capacity import IndexSchema, TableSchema, item_size, number_size, value_size, write_cost, write_units
from bench.costmodel import PRICES, cost_per_1000
from bench.ddbtap import StoreCall, by_phase, touched_items
from bench.load import Sample, chat_payload, check
from bench.runner import gc_summary
from bench.sse import timed_events
from bench.stats import percentile, summary
from bench.tcptap import Read, chunk_delays

USAGE = TableSchema(
    "UsageTable",
    ("account_id", "request_id"),
    (IndexSchema("by_key", ("key_id", "request_id")), IndexSchema("by_day", ("day_shard", "request_id"))),
)
KEYS = TableSchema("KeysTable", ("key_hash",), (IndexSchema("by_key_id", ("key_id",), "KEYS_ONLY"),))


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7], 99) == 7
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="0..100"):
        percentile([1], 101)


def test_summary_has_the_reported_fields() -> None:
    s = summary([1.0, 2.0, 3.0])
    assert s["count"] == 3
    assert s["p50"] == 2.0
    assert s["max"] == 3.0
    assert s["mean"] == 2.0


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 2), ("7", 2), ("12", 2), ("123", 3), ("1000000", 2), ("-1.50", 2), ("1795826726985", 8)],
)
def test_number_size_counts_significant_digits(text: str, size: int) -> None:
    assert number_size(text) == size


def test_value_and_item_sizes_follow_dynamodb_rules() -> None:
    assert value_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert value_size({"B": "AAE="}) == 2  # raw bytes, not base64
    assert value_size({"BOOL": True}) == 1
    assert value_size({"NULL": True}) == 1
    assert value_size({"L": [{"S": "x"}, {"N": "1"}]}) == 3 + (1 + 1) + (1 + 2)
    assert value_size({"M": {"ab": {"S": "x"}}}) == 3 + 1 + 2 + 1
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert item_size({"id": {"S": "abc"}, "n": {"N": "12"}}) == (2 + 3) + (1 + 2)
    assert item_size(None) == 0


def test_write_units_round_up_per_kb() -> None:
    assert [write_units(s) for s in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]


def _record(size_pad: int = 0) -> dict[str, dict[str, str]]:
    return {
        "account_id": {"S": "acct_x"},
        "request_id": {"S": "req_1"},
        "key_id": {"S": "key_1"},
        "day_shard": {"S": "2026-11-28#3"},
        "pad": {"S": "x" * size_pad},
    }


def test_a_new_usage_record_writes_the_table_and_both_indexes() -> None:
    cost = write_cost(USAGE, "put", None, _record(), transactional=False)
    assert (cost.table_units, cost.index_writes, cost.index_units, cost.units) == (1, 2, 2, 3)


def test_transactions_cost_twice_and_condition_checks_count() -> None:
    hold = {"hold_id": {"S": "h"}, "blob": {"S": "x" * 1100}}
    assert write_cost(TableSchema("HoldsTable", ("hold_id",)), "update", hold, hold, transactional=True).units == 4
    key = {"key_hash": {"S": "k"}, "key_id": {"S": "key_1"}, "status": {"S": "active"}}
    check_cost = write_cost(KEYS, "check", key, key, transactional=True)
    assert (check_cost.units, check_cost.index_writes) == (2, 0)


def test_index_writes_follow_what_the_index_stores() -> None:
    key = {"key_hash": {"S": "k"}, "key_id": {"S": "key_1"}, "remaining": {"N": "10"}}
    spent = {**key, "remaining": {"N": "9"}}
    # KEYS_ONLY: a change of a non-key attribute does not touch the index
    assert write_cost(KEYS, "update", key, spent, transactional=True).index_units == 0
    # a changed index key is a delete and a put in the index
    moved = {**key, "key_id": {"S": "key_2"}}
    assert write_cost(KEYS, "update", key, moved, transactional=False).index_writes == 2
    # ALL: any attribute change rewrites the index entry; a delete removes it
    assert write_cost(USAGE, "update", _record(), _record(5), transactional=False).index_writes == 2
    assert write_cost(USAGE, "delete", _record(1500), None, transactional=False).units == 2 + 2 * 2


def test_touched_items_of_a_reserve_transaction() -> None:
    request = {
        "TransactItems": [
            {"Update": {"TableName": "AccountsTable", "Key": {"account_id": {"S": "a"}}}},
            {"ConditionCheck": {"TableName": "KeysTable", "Key": {"key_hash": {"S": "k"}}}},
            {"Put": {"TableName": "HoldsTable", "Item": {"hold_id": {"S": "h"}, "amount": {"N": "5"}}}},
        ]
    }
    schemas = {"HoldsTable": TableSchema("HoldsTable", ("hold_id",))}
    assert touched_items("TransactWriteItems", request, schemas) == [
        ("AccountsTable", "update", True, {"account_id": {"S": "a"}}),
        ("KeysTable", "check", True, {"key_hash": {"S": "k"}}),
        ("HoldsTable", "put", True, {"hold_id": {"S": "h"}}),
    ]
    call = StoreCall(0.0, "dynamodb", "TransactWriteItems", request)
    assert call.signature() == "TransactWriteItems[Update AccountsTable, ConditionCheck KeysTable, Put HoldsTable]"


def test_by_phase_places_calls_in_their_request_life() -> None:
    calls = [StoreCall(t, "dynamodb", "DeleteItem", {"TableName": "HoldsTable"}) for t in (1.1, 1.5, 1.9, 2.1, 2.95)]
    phases = by_phase(calls, [(1.0, 1.2, 1.8), (2.0, 2.2, 2.9)])
    assert phases["before_upstream"] == {"DeleteItem[HoldsTable]": 1.0}  # 1.1 and 2.1 over 2 requests
    assert phases["before_response_end"] == {"DeleteItem[HoldsTable]": 0.5}
    assert phases["after_response"] == {"DeleteItem[HoldsTable]": 1.0}


def test_timed_events_keep_the_time_of_the_completing_chunk() -> None:
    events = timed_events([(1.0, b"data: a\n"), (2.0, b"\ndata: b\n\nda"), (3.0, b"ta: [DONE]\n\n")])
    assert [(e.t, e.data) for e in events] == [(2.0, b"data: a"), (2.0, b"data: b"), (3.0, b"data: [DONE]")]


def _stream_sample(tokens: int, *, done: bool = True) -> Sample:
    chunk = b'data: {"id":"c1","choices":[{"delta":{"content":" w"}}]}\n\n'
    usage = b'data: {"id":"c1","choices":[],"usage":{"completion_tokens":%d}}\n\n' % tokens
    chunks = [(0.1 * i, chunk) for i in range(tokens)] + [(9.0, usage)]
    if done:
        chunks.append((9.1, b"data: [DONE]\n\n"))
    return Sample(start=0.0, end=9.2, status=200, chunks=chunks)


def test_check_validates_streams_and_answers() -> None:
    assert check(_stream_sample(3), stream=True, tokens=3) is None
    assert check(_stream_sample(3, done=False), stream=True, tokens=3) == "stream did not end with [DONE]"
    assert "content tokens" in (check(_stream_sample(2), stream=True, tokens=3) or "")
    body = b'{"choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":3}}'
    assert check(Sample(start=0, end=1, status=200, body=body), stream=False, tokens=3) is None
    assert check(Sample(start=0, end=1, status=402, body=b"{}"), stream=False, tokens=3) is not None
    assert b"[[len=40]]" in chat_payload("m", 40, stream=True)


def test_parse_cells() -> None:
    assert parse_cells("1:300, 16:1600") == [(1, 300), (16, 1600)]
    for bad in ("16", "0:10", "16:8", "a:b"):
        with pytest.raises(Exception, match=r"."):
            parse_cells(bad)


def test_cost_model_lines() -> None:
    cost = cost_per_1000(duration_ms=1000, memory_mb=1024, write_units=18, read_units=0, response_bytes=1000)
    assert cost["usd"]["lambda_duration"] == pytest.approx(1000 * PRICES.lambda_arm_gb_s)
    assert cost["usd"]["dynamodb_writes"] == pytest.approx(18_000 * PRICES.dynamodb_wru)
    assert cost["usd"]["api_gateway"] == pytest.approx(1000 * PRICES.apigw_rest_request)
    assert cost["total_usd"] == pytest.approx(sum(cost["usd"].values()))


def test_chunk_delays_pair_tokens_by_chat_id_and_index() -> None:
    role = b'data: {"id":"c9","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    token = b'data: {"id":"c9","choices":[{"delta":{"content":" w"}}]}\n\n'
    upstream = [
        Read(1, "down", 0.0, 0, 1_000_000, b"HTTP/1.1 200 OK\r\n\r\n" + role + token),
        Read(1, "down", 0.0, 0, 6_000_000, token),
    ]
    client = [Read(7, "down", 0.0, 1_400_000, 0, role + token), Read(7, "down", 0.0, 6_250_000, 0, token)]
    delays = chunk_delays(upstream, client)
    assert delays["matched"] == 2
    assert delays["first_token_ms"]["p50"] == pytest.approx(0.4)
    assert delays["later_tokens_ms"]["p50"] == pytest.approx(0.25)


def test_gc_summary_groups_pauses_by_generation(tmp_path: Path) -> None:
    path = tmp_path / "gc.json"
    path.write_text(json.dumps({"pauses": [[0, 0.2], [2, 43.7], [2, 1.9], [1, 0.5]], "frozen": 12}))
    summary_ = gc_summary(path)
    assert summary_["generations"]["2"] == pytest.approx(
        {"collections": 2, "max_ms": 43.7, "total_ms": 45.6, "over_10ms": 1}
    )
    assert summary_["frozen_objects"] == 12
    assert gc_summary(tmp_path / "missing.json") == {"available": False}
