"""``POST /v1/responses`` as the pipeline sees it: what is refused, the worst case it reserves (checked
by hand), what a continuation inherits, the usage of answers and events, and the image tool's price."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
import pytest
from relay.endpoints.base import RequestBody
from relay.endpoints.responses import ResponsesCreate
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.auth import KeyContext
from tollway.errors import InvalidRequest, NotFound
from tollway.metering.responses_tools import tool_calls_of, usage_from_response
from tollway.metering.stream import StreamBroke
from tollway.money import ceil_micros
from tollway.pricing.engine import cost_of
from tollway.pricing.schema import load_price_file
from tollway.pricing.usage import Usage
from tollway.records import RecordStatus, UsageRecord
from tollway.settings import Settings
from tollway.sse import SSEEvent
from tollway.stored_responses import MemoryResponseStore, StoredResponse

from tests.support.stack import TEST_PRICES

PRICES = load_price_file(TEST_PRICES).models
SETTINGS = Settings(responses_max_tool_calls=4, responses_tool_result_tokens=1000)
ONE = Decimal(1)


def spec(store: MemoryResponseStore | None = None) -> ResponsesCreate:
    return ResponsesCreate(store or MemoryResponseStore(), SETTINGS, PRICES.get)


def body(**fields: Any) -> RequestBody:
    data = {"model": "t-resp", "input": "hello", **fields}
    raw = orjson.dumps(data)
    return RequestBody(raw=raw, content_type="application/json", json=data)


def context(account_id: str = "acct_a") -> KeyContext:
    account = Account(account_id, "a", "default", AccountStatus.ACTIVE, 1_000_000, 0)
    key = ApiKey("h", "key_a", account_id, "k", "sk-", KeyStatus.ACTIVE, 0)
    return KeyContext(key=key, account=account)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tools": [{"type": "some_future_tool"}]}, "tools"),
        ({"tools": "web_search"}, "tools"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_refused_clearly(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        spec().prepare(body(**fields))
    assert caught.value.param == param


def test_reservation_without_tools_is_the_body_and_the_output_limit() -> None:
    s = spec()
    prepared = s.prepare(body(max_output_tokens=100))
    budget = s.budget(prepared, PRICES["t-resp"], ONE)
    # t-resp: input 1, cache write 1.25 (the dearest input class), output 4 micro-USD per token.
    raw = len(orjson.dumps({"model": "t-resp", "input": "hello", "max_output_tokens": 100}))
    assert budget.hold_micros(100) == math.ceil(raw * Decimal("1.25") + 100 * 4)


def test_priced_tools_bound_every_turn_and_fee_and_set_max_tool_calls() -> None:
    s = spec()
    prepared = s.prepare(body(tools=[{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {}}]))
    assert prepared.extra["tool_calls"] == 4  # settings.responses_max_tool_calls
    budget = s.budget(prepared, PRICES["t-resp"], ONE)
    base = len(body(tools=[{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {}}]).raw)
    turns = sum(base + t * 1000 for t in range(5))
    # 5 turns, each reading the input and the results before it, at the dearest input price; 4 web
    # searches at $0.01; and each output token read again by up to 4 later turns.
    fixed = Decimal(turns) * Decimal("1.25") + 4 * 10_000
    assert budget.hold_micros(0) == math.ceil(fixed)
    assert budget.hold_micros(10) == math.ceil(fixed + 10 * (4 + 4 * Decimal("1.25")))
    sent = orjson.loads(s.upstream_body(prepared, 500, "up").content)
    assert sent["max_tool_calls"] == 4 and sent["model"] == "up" and sent["max_output_tokens"] == 500


def test_a_client_max_tool_calls_is_kept_and_bounds_the_hold() -> None:
    s = spec()
    prepared = s.prepare(body(tools=[{"type": "web_search_preview"}], max_tool_calls=1))
    assert prepared.extra["tool_calls"] == 1
    sent = orjson.loads(s.upstream_body(prepared, None, "up").content)
    assert sent["max_tool_calls"] == 1


def test_an_unpriced_fee_tool_is_refused_never_given_away() -> None:
    s = spec()
    prepared = s.prepare(
        body(model="t-resp-tools", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}])
    )
    with pytest.raises(InvalidRequest) as caught:
        s.budget(prepared, PRICES["t-resp-tools"], ONE)
    assert caught.value.code == "unpriced_tool"


def test_client_side_tools_cost_nothing_extra() -> None:
    s = spec()
    tools = [
        {"type": "function", "name": "f"},
        {"type": "custom", "name": "c"},
        {"type": "shell", "environment": {"type": "local"}},
    ]
    prepared = s.prepare(body(tools=tools))
    assert prepared.extra["tool_calls"] == 0 and not prepared.extra["set_tool_calls"]


def test_a_continuation_goes_to_its_channel_and_reserves_its_context() -> None:
    store = MemoryResponseStore()
    store.put(StoredResponse("resp_1", "acct_a", "ch_1", "t-resp", "req_1", 0, input_tokens=700, output_tokens=300), 31)
    s = spec(store)
    prepared = s.prepare(body(previous_response_id="resp_1", max_output_tokens=10))
    s.resolve(prepared, context())
    assert prepared.channel_ids == ("ch_1",)
    raw = len(body(previous_response_id="resp_1", max_output_tokens=10).raw)
    # The earlier input and output (700 + 300) join the body's bound, at the dearest input price.
    hold = s.budget(prepared, PRICES["t-resp"], ONE).hold_micros(10)
    assert hold == math.ceil((raw + 1000) * Decimal("1.25") + 10 * 4)


def test_another_accounts_response_is_not_found() -> None:
    store = MemoryResponseStore()
    store.put(StoredResponse("resp_1", "acct_a", "ch_1", "t-resp", "req_1", 0), 31)
    s = spec(store)
    prepared = s.prepare(body(previous_response_id="resp_1"))
    with pytest.raises(NotFound):
        s.resolve(prepared, context("acct_b"))


def test_unmeasurable_input_reserves_the_whole_window() -> None:
    s = spec()
    prepared = s.prepare(body(prompt={"id": "pmpt_1"}, max_output_tokens=10))
    assert s.budget(prepared, PRICES["t-resp"], ONE).hold_micros(10) == math.ceil(128_000 * Decimal("1.25") + 40)


def test_usage_of_an_answer_counts_cached_writes_reasoning_tier_and_tools() -> None:
    answer = {
        "service_tier": "flex",
        "usage": {
            "input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100},
            "output_tokens": 500,
            "output_tokens_details": {"reasoning_tokens": 300},
        },
        "output": [
            {"type": "web_search_call"},
            {"type": "web_search_call"},
            {"type": "code_interpreter_call", "container_id": "c1"},
            {"type": "code_interpreter_call", "container_id": "c1"},
            {"type": "code_interpreter_call", "container_id": "c2"},
            {"type": "message"},
        ],
    }
    usage = usage_from_response(answer)
    assert usage is not None
    assert usage.tool_calls == {"web_search": 2, "code_interpreter": 2}  # containers, not calls
    # 500 uncached at 1, 400 cached at 0.1, 100 written at 1.25, 500 out at 4, flex 0.5; tools not tiered.
    tokens = (500 + 40 + 125 + 2000) * Decimal("0.5")
    assert cost_of(PRICES["t-resp"], usage).micros == ceil_micros((tokens + 2 * 10_000 + 2 * 30_000) / 1_000_000)


def test_tool_usage_web_search_count_wins_over_items() -> None:
    assert tool_calls_of(
        {"output": [{"type": "web_search_call"}], "tool_usage": {"web_search": {"num_requests": 3}}}
    ) == {"web_search": 3}


def event(data: dict[str, Any]) -> SSEEvent:
    raw = orjson.dumps(data)
    return SSEEvent(
        block=b"event: " + str(data.get("type")).encode() + b"\ndata: " + raw, event=data.get("type"), data=raw
    )


def test_meter_counts_deltas_and_takes_usage_from_the_terminal_event() -> None:
    s = spec()
    meter = s.meter(s.prepare(body(stream=True)))
    meter.on_event(event({"type": "response.created", "response": {"id": "resp_9", "usage": None}}))
    for _ in range(3):
        assert meter.on_event(event({"type": "response.output_text.delta", "delta": "x"}))
    meter.on_event(event({"type": "response.output_item.done", "item": {"type": "web_search_call"}}))
    assert meter.produced_output == 3 and meter.tool_calls == {"web_search": 1} and not meter.done
    final = {"id": "resp_9", "usage": {"input_tokens": 9, "output_tokens": 3}, "output": []}
    meter.on_event(event({"type": "response.incomplete", "response": final}))
    assert meter.done and meter.usage == Usage(input_tokens=9, output_tokens=3)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "error", "code": "server_error", "message": "boom"},
        {"type": "response.failed", "response": {"error": {"code": "server_error", "message": "x"}}},
        {"error": {"message": "mid-stream"}},
    ],
)
def test_failures_break_the_stream(data: dict[str, Any]) -> None:
    s = spec()
    meter = s.meter(s.prepare(body(stream=True)))
    with pytest.raises(StreamBroke):
        meter.on_event(event(data))


def test_the_succeeded_hook_remembers_stored_responses_only() -> None:
    store = MemoryResponseStore()
    s = spec(store)
    prepared = s.prepare(body())
    s.usage_of({"id": "resp_5", "usage": {"input_tokens": 10, "output_tokens": 2}})
    record = UsageRecord(
        "req_x",
        5,
        "acct_a",
        "key_a",
        "responses",
        RecordStatus.OK,
        200,
        channel_id="ch_9",
        tokens={"input": 10, "output": 2},
    )
    s.succeeded(prepared, record)
    found = store.get("acct_a", "resp_5")
    assert found is not None and found.channel_id == "ch_9" and found.context_tokens == 12
    unstored = spec(store)
    prepared = unstored.prepare(body(store=False))
    unstored.usage_of({"id": "resp_6"})
    unstored.succeeded(prepared, record)
    assert store.get("acct_a", "resp_6") is None


def test_image_tool_reserves_its_worst_image_and_bills_its_own_usage() -> None:
    s = spec()
    tool = {"type": "image_generation", "model": "t-image-tool", "quality": "high", "partial_images": 2}
    prepared = s.prepare(body(tools=[tool], stream=True, max_tool_calls=1))
    price = PRICES["t-resp"]
    budget = s.budget(prepared, price, ONE)
    base = len(body(tools=[tool], stream=True, max_tool_calls=1).raw)
    # One image at worst: 4,160 + 2 partial × 100 image tokens at 30, the last turn as image input at 8.
    image = (4160 + 200) * 30 + (base + 1000) * 8
    assert budget.hold_micros(0) == math.ceil(Decimal(base + base + 1000) * Decimal("1.25") + image)
    answer = {
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "output": [{"type": "image_generation_call"}],
        "tool_usage": {
            "image_gen": {
                "input_tokens": 50,
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                "output_tokens": 1056,
                "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0},
                "total_tokens": 1106,
            }
        },
    }
    usage = s.usage_of(answer)
    assert usage is not None and usage.images == 1
    assert s.cost(prepared, price, usage, ONE) == 10 + 5 * 4 + 50 * 5 + 1056 * 30
    sent = orjson.loads(s.upstream_body(prepared, None, "up").content)
    assert sent["tools"][0]["model"] == "t-image-tool"


def test_image_tool_without_a_model_gets_the_configured_one() -> None:
    s = ResponsesCreate(MemoryResponseStore(), Settings(responses_image_tool_model="t-image-tool"), PRICES.get)
    prepared = s.prepare(body(tools=[{"type": "image_generation"}]))
    s.budget(prepared, PRICES["t-resp"], ONE)
    assert orjson.loads(s.upstream_body(prepared, None, "up").content)["tools"][0]["model"] == "t-image-tool"
    missing = ResponsesCreate(MemoryResponseStore(), Settings(responses_image_tool_model="nope"), PRICES.get)
    prepared = missing.prepare(body(tools=[{"type": "image_generation"}]))
    with pytest.raises(InvalidRequest) as caught:
        missing.budget(prepared, PRICES["t-resp"], ONE)
    assert caught.value.code == "unpriced_tool"
