"""Every walker over a request body or an upstream answer takes any JSON shape: a clear 4xx (an
``InvalidRequest``), a broken stream (a meter's clean refusal, nothing charged) or a pass-through —
never an unexpected exception, which the relay would turn into a 500.

Hypothesis draws "valid-looking" documents (tests/support/shapes.py: a well-formed request, answer or
event with random subtrees replaced by arbitrary JSON) with a fixed seed; the examples below them are
the shapes it found, each of which raised before the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay.endpoints.audio import Speech
from relay.endpoints.audio_transcriptions import Transcriptions
from relay.endpoints.base import EndpointSpec, Prepared, RequestBody
from relay.endpoints.chat import ChatCompletions
from relay.endpoints.completions import Completions
from relay.endpoints.embeddings import Embeddings
from relay.endpoints.images import ImageEdits, ImageGenerations, ImageVariations
from relay.endpoints.moderations import Moderations
from relay.endpoints.responses import ResponsesCreate
from relay.multipart import FilePart, Form
from tollway.errors import InvalidRequest, TollwayError
from tollway.metering.audio_clock import StreamClock
from tollway.metering.audio_probe import probe_duration
from tollway.metering.responses_tools import plan_tools
from tollway.metering.stream import StreamBroke
from tollway.pricing.engine import cost_of
from tollway.pricing.schema import ModelPrice, load_price_file
from tollway.pricing.usage import Usage
from tollway.settings import Settings
from tollway.sse import SSEEvent
from tollway.stored_responses import MemoryResponseStore
from tollway.suno.request import parse_submit
from tollway.vision import image_parts, input_bound

from tests.support.shapes import JSON, mutated
from tests.support.stack import TEST_PRICES

PRICES = load_price_file(TEST_PRICES).models
ONE = Decimal(1)
BOUNDED = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

IMG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CHAT_USAGE = {
    "prompt_tokens": 5,
    "completion_tokens": 3,
    "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 1},
    "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 1},
}
RESPONSE = {
    "id": "resp_1",
    "status": "completed",
    "usage": {
        "input_tokens": 5,
        "output_tokens": 3,
        "input_tokens_details": {"cached_tokens": 1},
        "output_tokens_details": {"reasoning_tokens": 1},
    },
    "output": [
        {"type": "message", "content": [{"type": "output_text", "text": "hi"}]},
        {"type": "web_search_call"},
        {"type": "code_interpreter_call", "container_id": "c"},
        {"type": "image_generation_call"},
    ],
    "tool_usage": {
        "web_search": {"num_requests": 1},
        "image_gen": {
            "input_tokens": 1,
            "output_tokens": 2,
            "total_tokens": 3,
            "input_tokens_details": {"image_tokens": 1},
            "output_tokens_details": {"image_tokens": 2},
        },
    },
    "service_tier": "flex",
}
IMAGES_USAGE = {
    "input_tokens": 1,
    "output_tokens": 2,
    "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
    "output_tokens_details": {"image_tokens": 2},
}
TRANSCRIPT = {
    "text": "hi",
    "duration": 3.5,
    "usage": {"type": "tokens", "input_tokens": 5, "output_tokens": 2, "input_token_details": {"audio_tokens": 3}},
}


@dataclass(frozen=True)
class Case:
    """One endpoint: its spec, a request that passes, and an answer and events as an upstream sends them."""

    name: str
    make: Callable[[], EndpointSpec]
    request: dict[str, Any]
    answer: dict[str, Any]
    events: list[Any] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.request["model"])

    def __str__(self) -> str:
        return self.name


def _responses() -> ResponsesCreate:
    return ResponsesCreate(MemoryResponseStore(), Settings(), PRICES.get)


CASES = [
    Case(
        "chat",
        ChatCompletions,
        {
            "model": "t-resp",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": IMG, "detail": "low"}},
                    ],
                }
            ],
            "max_tokens": 5,
            "stream": True,
            "stream_options": {"include_usage": True},
            "service_tier": "flex",
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        {"choices": [{"message": {"content": "hi"}}], "usage": CHAT_USAGE, "service_tier": "flex"},
        [{"choices": [{"delta": {"content": "hi"}}]}, {"choices": [], "usage": CHAT_USAGE}, "[DONE]"],
    ),
    Case(
        "responses",
        _responses,
        {
            "model": "t-resp",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "hi"},
                        {"type": "input_image", "image_url": IMG, "detail": "high"},
                        {"type": "input_file", "file_id": "f"},
                    ],
                }
            ],
            "instructions": "x",
            "prompt": {"id": "p", "variables": {"a": {"type": "input_image", "image_url": IMG}}},
            "tools": [
                {"type": "web_search"},
                {"type": "image_generation", "model": "t-image-tool", "partial_images": 2},
                {"type": "shell", "environment": {"type": "local"}},
                {"type": "tool_search", "execution": "client"},
                {"type": "function", "name": "f"},
            ],
            "max_output_tokens": 10,
            "max_tool_calls": 2,
            "stream": True,
        },
        RESPONSE,
        [
            {"type": "response.output_text.delta", "delta": "x"},
            {"type": "response.output_item.done", "item": {"type": "web_search_call"}},
            {"type": "response.completed", "response": RESPONSE},
            {"type": "response.failed", "response": {"error": {"message": "x"}}},
        ],
    ),
    Case(
        "completions",
        Completions,
        {
            "model": "t-completions",
            "prompt": ["a", "b"],
            "suffix": "s",
            "max_tokens": 5,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {"choices": [{"text": "hi"}], "usage": CHAT_USAGE},
        [{"choices": [{"text": "hi"}]}, {"choices": [], "usage": CHAT_USAGE}],
    ),
    Case(
        "embeddings",
        Embeddings,
        {"model": "t-embed", "input": ["a", "b"], "dimensions": 3, "encoding_format": "float"},
        {"data": [{"embedding": [0.1]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}},
    ),
    Case(
        "moderations",
        Moderations,
        {
            "model": "t-moderation",
            "input": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": IMG}}],
        },
        {"results": [{"flagged": False}], "usage": {"prompt_tokens": 3}},
    ),
    Case(
        "speech",
        Speech,
        {"model": "t-tts-tokens", "input": "hello", "voice": "alloy", "stream_format": "sse", "speed": 1.5},
        {},
        [
            {"type": "speech.audio.delta", "audio": "AAAA"},
            {"type": "speech.audio.done", "usage": {"input_tokens": 1, "output_tokens": 2}},
        ],
    ),
    Case(
        "images",
        ImageGenerations,
        {
            "model": "t-gpt-image-2",
            "prompt": "hi",
            "n": 2,
            "size": "1024x1024",
            "quality": "high",
            "stream": True,
            "partial_images": 2,
        },  # fmt: skip
        {"data": [{"b64_json": "eA=="}], "usage": IMAGES_USAGE},
        [
            {"type": "image_generation.partial_image", "b64_json": "eA==", "partial_image_index": 0},
            {"type": "image_generation.completed", "b64_json": "eA==", "usage": IMAGES_USAGE},
        ],
    ),
]


def _body(data: Any) -> RequestBody:
    raw = orjson.dumps(data)
    return RequestBody(raw=raw, content_type="application/json", json=orjson.loads(raw))


def _admit(spec: EndpointSpec, body: RequestBody, fallback: str) -> tuple[Prepared, ModelPrice] | None:
    """prepare → budget → upstream body, as the pipeline runs them; None when refused with a 4xx."""
    try:
        prepared = spec.prepare(body)
        price = PRICES.get(prepared.model) or PRICES[fallback]
        spec.budget(prepared, price, ONE).hold_micros(100)
        spec.upstream_body(prepared, 100, "upstream-model")
    except TollwayError as refused:
        status = refused.status
    else:
        return prepared, price
    assert status < 500
    return None


def _charge(price: ModelPrice, usage: Usage | None) -> None:
    if usage is not None:
        assert cost_of(price, usage, ONE).micros >= 0


def _event(data: Any) -> SSEEvent:
    payload = data.encode() if isinstance(data, str) and data == "[DONE]" else orjson.dumps(data)
    return SSEEvent(block=b"data: " + payload, event=None, data=payload)


# ---- requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_templates_are_accepted(case: Case) -> None:
    assert _admit(case.make(), _body(case.request), case.model) is not None  # else the tests below test little


@pytest.mark.parametrize("case", CASES, ids=str)
@BOUNDED
@given(data=st.data())
def test_any_request_shape_is_admitted_or_refused_with_a_4xx(case: Case, data: st.DataObject) -> None:
    spec = case.make()
    admitted = _admit(spec, _body(data.draw(mutated(case.request))), case.model)
    if admitted is not None:
        prepared, price = admitted
        _charge(price, spec.estimate(prepared, data.draw(st.integers(0, 10_000))))


@pytest.mark.parametrize("case", CASES, ids=str)
@BOUNDED
@given(data=st.data())
def test_any_answer_shape_is_metered(case: Case, data: st.DataObject) -> None:
    spec = case.make()
    admitted = _admit(spec, _body({**case.request, "stream": False}), case.model)
    assert admitted is not None
    prepared, price = admitted
    answer = data.draw(mutated(case.answer))
    if not isinstance(answer, dict):
        return  # the pipeline refuses a non-object answer itself (502, nothing charged)
    usage = spec.usage_of(answer)
    if usage is None:
        usage = spec.estimate(prepared, spec.output_of(answer))
    _charge(price, usage)
    assert spec.cost(prepared, price, usage, ONE) >= 0  # every spec has the hook (EndpointHooks)


@pytest.mark.parametrize("case", [c for c in CASES if c.events], ids=str)
@BOUNDED
@given(data=st.data())
def test_any_event_shape_is_metered_or_breaks_the_stream(case: Case, data: st.DataObject) -> None:
    spec = case.make()
    admitted = _admit(spec, _body(case.request), case.model)
    assert admitted is not None
    prepared, price = admitted
    events = data.draw(mutated(case.events))
    meter = spec.meter(prepared)
    try:
        for event in events if isinstance(events, list) else [events]:
            meter.on_event(_event(event))
    except StreamBroke:
        return  # a malformed or failed stream: nothing is charged
    _charge(price, meter.usage or spec.estimate(prepared, meter.produced_output))


BYTE_CASES = [
    (
        c,
        {**c.request, "stream": False, "stream_format": "audio"}
        if c.name == "speech"
        else {**c.request, "stream": False},
    )
    for c in CASES
    if c.name in ("images", "speech")
]


@pytest.mark.parametrize(("case", "request_body"), BYTE_CASES, ids=[str(c) for c, _ in BYTE_CASES])
@BOUNDED
@given(data=st.data())
def test_any_byte_answer_is_metered(case: Case, request_body: dict[str, Any], data: st.DataObject) -> None:
    spec = case.make()
    admitted = _admit(spec, _body(request_body), case.model)
    assert admitted is not None and spec.response_mode(admitted[0]) == "bytes"
    prepared, price = admitted
    raw = orjson.dumps(data.draw(mutated(case.answer))) if data.draw(st.booleans()) else data.draw(st.binary())
    cut = data.draw(st.integers(0, len(raw)))
    meter = spec.byte_meter(prepared)
    meter.feed(raw[:cut])
    meter.feed(raw[cut:])
    _charge(price, meter.usage(data.draw(st.booleans())))


# ---- multipart requests -----------------------------------------------------------------------------

#: A WAV header (16 kHz, 16-bit mono) announcing one second of audio.
WAV = (
    b"RIFF$\x7d\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00"
    b"\x00}\x00\x00\x02\x00\x10\x00data\x00}\x00\x00"
)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
FIELD_VALUES = st.text(max_size=6) | st.sampled_from(["json", "text", "srt", "true", "1", "high", "gif", "svg", "-1"])
FORM_CASES = [
    (
        "transcriptions",
        lambda: Transcriptions("transcriptions", Settings()),
        {"model": "t-transcribe", "response_format": "json", "prompt": "p"},
        "file",
        WAV + bytes(32000),
    ),  # fmt: skip
    (
        "whisper",
        lambda: Transcriptions("translations", Settings()),
        {"model": "t-whisper", "response_format": "text"},
        "file",
        WAV + bytes(32000),
    ),  # fmt: skip
    ("edits", ImageEdits, {"model": "t-gpt-image-2", "prompt": "p", "n": "2"}, "image[]", PNG),
    ("variations", ImageVariations, {"model": "t-dall-e-2"}, "image", PNG),
]


@st.composite
def forms(draw: st.DrawFn, fields: dict[str, str], file_name: str, file_data: bytes) -> Form:
    values = {k: [v] for k, v in fields.items() if draw(st.integers(0, 7))}
    extra = st.sampled_from(["n", "stream", "partial_images", "response_format", "output_format", "frame_count",
                             "input_fidelity", "size", "quality", "model"])  # fmt: skip
    for name in draw(st.lists(extra, max_size=4)):
        values[name] = draw(st.lists(FIELD_VALUES, min_size=1, max_size=2))
    data = file_data if draw(st.integers(0, 3)) else draw(st.binary(max_size=64))
    copies = 1 if draw(st.integers(0, 5)) else draw(st.integers(0, 2))
    return Form(fields=values, files=[FilePart(file_name, "a", "application/octet-stream", data)] * copies)


@pytest.mark.parametrize(
    ("name", "make", "fields", "file_name", "file_data"), FORM_CASES, ids=[c[0] for c in FORM_CASES]
)
@BOUNDED
@given(data=st.data())
def test_any_form_is_admitted_or_refused_with_a_4xx(
    name: str, make: Callable[[], EndpointSpec], fields: dict[str, str], file_name: str, file_data: bytes,
    data: st.DataObject,
) -> None:  # fmt: skip
    spec = make()
    form = data.draw(forms(fields, file_name, file_data))
    admitted = _admit(spec, RequestBody(raw=b"", content_type="multipart/form-data", form=form), fields["model"])
    if admitted is None:
        return
    prepared, price = admitted
    mode = spec.response_mode(prepared)
    answer = data.draw(mutated(TRANSCRIPT if file_name == "file" else {"data": [{}], "usage": IMAGES_USAGE}))
    if mode == "json" and isinstance(answer, dict):
        _charge(price, spec.usage_of(answer) or spec.estimate(prepared, spec.output_of(answer)))
    elif mode == "bytes":
        meter = spec.byte_meter(prepared)
        meter.feed(orjson.dumps(answer))
        _charge(price, meter.usage(True))


# ---- walkers on their own ---------------------------------------------------------------------------


@BOUNDED
@given(body=JSON | mutated(CASES[0].request) | mutated(CASES[1].request))
def test_image_parts_walk_any_json(body: Any) -> None:
    raw = orjson.dumps(body)
    for part in image_parts(body):
        assert part.url is None or isinstance(part.url, str)
    assert input_bound(raw, body, "t-resp") >= 0


@BOUNDED
@given(tools=JSON | mutated(CASES[1].request["tools"]))
def test_tool_plans_take_any_json(tools: Any) -> None:
    status = 0
    try:
        plan_tools(tools)
    except TollwayError as refused:
        status = refused.status
    assert status in (0, 400)


@BOUNDED
@given(blob=st.binary(max_size=300), fmt=st.sampled_from(["mp3", "opus", "aac", "flac", "wav", "pcm"]))
def test_audio_headers_take_any_bytes(blob: bytes, fmt: str) -> None:
    seconds = probe_duration(blob)
    assert seconds is None or seconds >= 0
    clock = StreamClock(fmt)
    clock.feed(blob[:7])
    clock.feed(blob[7:])
    assert clock.seconds is None or clock.seconds >= 0


@BOUNDED
@given(
    action=st.sampled_from(["MUSIC", "LYRICS", "nope"]), body=JSON | mutated({"prompt": "p", "mv": "x", "tags": "t"})
)
def test_suno_submits_take_any_json(action: str, body: Any) -> None:
    status = 0
    try:
        parse_submit(action, body)
    except InvalidRequest as refused:
        status = refused.status
    assert status < 500


# ---- what the fuzzing found (each raised before the fix) ----------------------------------------------


def test_a_prompt_variable_with_an_object_type_is_walked() -> None:
    """The issue's case: a Responses ``prompt.variables`` value shaped like an image part with ``type: {}``."""
    body = {
        "model": "t-resp",
        "input": "hi",
        "prompt": {"id": "pmpt_1", "variables": {"a": {"type": {}, "image_url": IMG}, "b": {"type": ["x"]}}},
    }
    assert _admit(_responses(), _body(body), "t-resp") is not None
    chat = {"model": "t-resp", "messages": [{"role": "user", "content": [{"type": [], "image_url": {"url": IMG}}]}]}
    assert _admit(ChatCompletions(), _body(chat), "t-resp") is not None


FOUND_ANSWERS = [
    ("chat", {"choices": [], "usage": {**CHAT_USAGE, "prompt_tokens_details": [1]}}),
    ("chat", {"choices": [1.5, None, ["x"], "x"]}),
    ("completions", {"choices": [], "usage": {**CHAT_USAGE, "completion_tokens_details": [1]}}),
    ("responses", {**RESPONSE, "output": True}),
    ("responses", {**RESPONSE, "tool_usage": ["x"]}),
    ("responses", {**RESPONSE, "usage": {"input_tokens": 1, "input_tokens_details": [], "output_tokens_details": 3}}),
    ("responses", {**RESPONSE, "tool_usage": {"image_gen": {"output_tokens": 2, "input_tokens_details": [1]}}}),
]


@pytest.mark.parametrize(("name", "answer"), FOUND_ANSWERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FOUND_ANSWERS)])
def test_answers_that_raised(name: str, answer: dict[str, Any]) -> None:
    case = next(c for c in CASES if c.name == name)
    spec = case.make()
    admitted = _admit(spec, _body({**case.request, "stream": False}), case.model)
    assert admitted is not None
    prepared, price = admitted
    usage = spec.usage_of(answer) or spec.estimate(prepared, spec.output_of(answer))
    _charge(price, usage)
    assert spec.cost(prepared, price, usage, ONE) >= 0  # every spec has the hook (EndpointHooks)


FOUND_EVENTS = [
    ("chat", [{"choices": ["x", [1], {"delta": "text"}]}]),
    ("responses", [{"type": {}, "x": 1}, {"type": ["response.completed"]}]),
    ("responses", [{"type": "response.failed", "response": 7}]),
]


@pytest.mark.parametrize(("name", "events"), FOUND_EVENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FOUND_EVENTS)])
def test_events_that_raised(name: str, events: list[Any]) -> None:
    case = next(c for c in CASES if c.name == name)
    spec = case.make()
    admitted = _admit(spec, _body(case.request), case.model)
    assert admitted is not None
    meter = spec.meter(admitted[0])
    try:
        for event in events:
            meter.on_event(_event(event))
    except StreamBroke:
        pass


@pytest.mark.parametrize(
    "usage",
    [
        {"type": "tokens", "input_tokens": 5, "input_token_details": ["audio"]},
        {"type": "duration", "seconds": "9e999999"},  # finite as a Decimal, but no stored number holds its cost
    ],
)
def test_transcription_usages_that_raised(usage: dict[str, Any]) -> None:
    for model in ("t-transcribe", "t-whisper"):
        spec = Transcriptions("transcriptions", Settings())
        form = Form(fields={"model": [model]}, files=[FilePart("file", "a.wav", "audio/wav", WAV + bytes(32000))])
        admitted = _admit(spec, RequestBody(raw=b"", content_type="multipart/form-data", form=form), model)
        assert admitted is not None
        prepared, price = admitted
        measured = spec.usage_of({"text": "hi", "usage": usage}) or spec.estimate(prepared, 1)
        assert cost_of(price, measured, ONE).micros < 10**15
