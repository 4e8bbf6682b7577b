"""The mock's token accounting for Responses, legacy completions, embeddings and audio — pure functions,
so tests can compute the exact usage the mock reports (docs/mock-upstream.md, "The rest of the surface").

Responses (`plan_response`):

* input_tokens = Σ over input items (words + 3) + 3, + (words(instructions) + 3) when given — a string
  input is one item — or exactly N with `[[prompt=N]]`; a `previous_response_id` adds that response's
  input + output tokens. cached/cache_write as chat's markers (`cache_write_tokens` always present, 0
  without the marker).
* reasoning r and visible v: chat's rule with cap M = `max_output_tokens`; status "incomplete"
  (`incomplete_details.reason = "max_output_tokens"`) when R + L > M.
* tool calls, only for tools the request declares, at most `max_tool_calls` in all (in this order):
  `[[web_search=N]]` web searches, `[[code=N]]` code-interpreter calls (each in its own container),
  `[[image_gen=N]]` image generations. They add no model tokens. `tool_usage.web_search.num_requests`
  = the searches; `tool_usage.image_gen` = 50 text input tokens and `IMAGE_TOKENS[quality]` output
  (image) tokens per image.

Completions (`plan_completion`): prompt_tokens = Σ words of the prompt strings + the length of token
arrays; per completion v = min(L, max_tokens) with max_tokens defaulting to 16 (the legacy default);
completion_tokens = prompts × max(n, best_of) × v (best_of completions are generated and billed).

Embeddings (`embedding_tokens`): Σ words of the input strings + the length of token arrays.

Speech (`speech_plan`): the audio lasts `len(input)` MP3 frames of 1,152 samples at 44.1 kHz (every
format lasts as long); `usage` (SSE only) = input_tokens words(input) + words(instructions),
output_tokens ⌈seconds × 1250 / 60⌉.

Transcriptions (`transcription_plan`): seconds = a WAV file's own duration, any other file's
bytes / 16,000; the transcript has ⌈2 × seconds⌉ words (at least 1). A model whose name contains
"whisper" or is "gpt-transcribe" reports `{"type": "duration", "seconds"}`; others report tokens:
audio ⌈10 × seconds⌉, input = audio + words(prompt), output = transcript words.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from tollway_local.mock.errors import bad_request
from tollway_local.mock.usage import TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST, count_words, parse_markers

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "IMAGE_TOKENS",
    "ResponsePlan",
    "embedding_tokens",
    "expected_response_usage",
    "plan_completion",
    "plan_response",
    "speech_plan",
    "transcription_plan",
]

#: Image output tokens per generated image, by quality ("auto" counts as medium).
IMAGE_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
IMAGE_INPUT_TOKENS = 50
_TOOL_MARKER = re.compile(r"\[\[(web_search|code|image_gen)=(\d{1,6})\]\]")
_WEB_TYPES = ("web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11")
MP3_FRAME_SECONDS = Decimal(1152) / Decimal(44100)


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return ""
    content = item.get("content", item.get("output"))
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def response_texts(body: Mapping[str, Any]) -> list[str]:
    """Every text of a Responses request (input items and instructions)."""
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else (raw if isinstance(raw, list) else [])
    texts = [_item_text(i) for i in items]
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    return texts


def _last_user_text(body: Mapping[str, Any]) -> str:
    raw = body.get("input")
    if isinstance(raw, str):
        return raw
    for item in reversed(raw if isinstance(raw, list) else []):
        if isinstance(item, dict) and item.get("role", "user") == "user" and item.get("type", "message") == "message":
            return _item_text(item)
    return ""


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    visible_tokens: int
    incomplete: bool
    web_searches: int
    code_calls: int
    images: int
    image_quality: str

    @property
    def output_tokens(self) -> int:
        return self.reasoning_tokens + self.visible_tokens

    def usage(self) -> dict[str, Any]:
        """The `ResponseUsage` object of the finished response."""
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
            },
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def tool_usage(self) -> dict[str, Any]:
        out = IMAGE_TOKENS.get(self.image_quality, IMAGE_TOKENS["medium"]) * self.images
        text_in = IMAGE_INPUT_TOKENS * self.images
        return {
            "image_gen": {
                "input_tokens": text_in,
                "input_tokens_details": {"text_tokens": text_in, "image_tokens": 0},
                "output_tokens": out,
                "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
                "total_tokens": text_in + out,
            },
            "web_search": {"num_requests": self.web_searches},
        }


def _count(body: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_request(f"Invalid '{name}': expected an integer >= {minimum}.", param=name, code="invalid_value")
    return value


def plan_response(
    body: Mapping[str, Any], *, previous_tokens: int = 0, default_completion_tokens: int = 24
) -> ResponsePlan:
    """The shape and usage of a Responses answer to ``body`` (``previous_tokens``: the continuation's)."""
    text = _last_user_text(body)
    markers = parse_markers(text)
    cap = _count(body, "max_output_tokens", 1)
    wanted_reasoning = markers.reasoning or 0
    wanted_visible = markers.len if markers.len is not None else default_completion_tokens
    if cap is None:
        reasoning, visible, incomplete = wanted_reasoning, wanted_visible, False
    else:
        reasoning = min(wanted_reasoning, cap)
        visible = min(wanted_visible, cap - reasoning)
        incomplete = wanted_reasoning + wanted_visible > cap
    if markers.prompt is not None:
        prompt = markers.prompt
    else:
        prompt = sum(count_words(t) + TOKENS_PER_MESSAGE for t in response_texts(body)) + TOKENS_PER_REQUEST
    prompt += previous_tokens
    cached = min(markers.cached or 0, prompt)
    write = min(markers.cache_write or 0, prompt - cached)
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    kinds = {str(t.get("type")) for t in tools}
    wanted = {name: int(value) for name, value in reversed(_TOOL_MARKER.findall(text))}
    budget = _count(body, "max_tool_calls", 0)
    left = budget if budget is not None else 1 << 30
    web = min(wanted.get("web_search", 0), left) if kinds & set(_WEB_TYPES) else 0
    left -= web
    code = min(wanted.get("code", 0), left) if "code_interpreter" in kinds else 0
    left -= code
    images = min(wanted.get("image_gen", 0), left) if "image_generation" in kinds else 0
    quality = next((str(t.get("quality") or "auto") for t in tools if t.get("type") == "image_generation"), "auto")
    return ResponsePlan(
        input_tokens=prompt,
        cached_tokens=cached,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
        visible_tokens=visible,
        incomplete=incomplete,
        web_searches=web,
        code_calls=code,
        images=images,
        image_quality=quality,
    )


def expected_response_usage(body: Mapping[str, Any], *, previous_tokens: int = 0) -> dict[str, Any]:
    """The `usage` the mock reports for a complete Responses answer to ``body``."""
    return plan_response(body, previous_tokens=previous_tokens).usage()


def _prompt_parts(prompt: Any) -> tuple[list[str], int]:
    if prompt is None:
        return ["<|endoftext|>"], 0
    if isinstance(prompt, str):
        return [prompt], 0
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return list(prompt), 0
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return [], len(prompt)
    if isinstance(prompt, list) and all(isinstance(p, list) for p in prompt):
        return [], sum(len(p) for p in prompt)
    raise bad_request("Invalid 'prompt': expected a string, strings or token arrays.", param="prompt")


def plan_completion(body: Mapping[str, Any], *, default_completion_tokens: int = 24) -> dict[str, Any]:
    """prompts, choices per prompt, visible tokens per choice, finish reason and usage of a completion."""
    prompt = body.get("prompt")
    texts, array_tokens = _prompt_parts(prompt)
    prompts = len(prompt) if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else 1
    n = _count(body, "n", 1) or 1
    best_of = max(_count(body, "best_of", 1) or 1, n)
    cap = _count(body, "max_tokens", 0)
    cap = 16 if cap is None else cap
    markers = parse_markers(texts[-1] if texts else "")
    wanted = markers.len if markers.len is not None else default_completion_tokens
    visible = min(wanted, cap)
    prompt_tokens = sum(count_words(t) for t in texts) + array_tokens
    completion = prompts * best_of * visible
    return {
        "prompts": prompts,
        "n": n,
        "visible": visible,
        "finish_reason": "length" if wanted > cap else "stop",
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


def embedding_tokens(value: Any) -> list[int]:
    """Tokens of each input (words of a string, length of a token array)."""
    items = value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, str):
            out.append(count_words(item))
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            out.append(len(item))
        else:
            raise bad_request("Invalid 'input': expected a string, strings or token arrays.", param="input")
    return out


def speech_plan(body: Mapping[str, Any]) -> dict[str, Any]:
    """Frames, duration and (SSE) usage of a speech answer."""
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise bad_request("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    frames = len(text)
    seconds = MP3_FRAME_SECONDS * frames
    instructions = body.get("instructions")
    words = count_words(text) + (count_words(instructions) if isinstance(instructions, str) else 0)
    audio = math.ceil(seconds * 1250 / 60)
    return {
        "frames": frames,
        "seconds": seconds,
        "usage": {"input_tokens": words, "output_tokens": audio, "total_tokens": words + audio},
    }


def wav_seconds(data: bytes) -> Decimal | None:
    """A WAV file's duration from its `fmt ` and `data` chunks (None if it is not one)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"fmt " and pos + 20 <= len(data):
            rate = struct.unpack_from("<I", data, pos + 16)[0]
        if kind == b"data" and rate:
            return Decimal(min(size, len(data) - pos - 8)) / Decimal(rate)
        pos += 8 + size + (size & 1)
    return None


def transcription_plan(model: str, audio: bytes, prompt: str) -> dict[str, Any]:
    """Duration, transcript length and usage of a transcription."""
    seconds = wav_seconds(audio)
    if seconds is None:
        seconds = Decimal(len(audio)) / Decimal(16000)
    seconds = seconds.quantize(Decimal("0.001"), rounding=ROUND_CEILING)
    words = max(1, math.ceil(seconds * 2))
    if "whisper" in model or model == "gpt-transcribe":
        usage: dict[str, Any] = {"type": "duration", "seconds": float(seconds)}
    else:
        audio_tokens = math.ceil(seconds * 10)
        prompt_words = count_words(prompt)
        usage = {
            "type": "tokens",
            "input_tokens": audio_tokens + prompt_words,
            "input_token_details": {"text_tokens": prompt_words, "audio_tokens": audio_tokens},
            "output_tokens": words,
            "total_tokens": audio_tokens + prompt_words + words,
        }
    return {"seconds": seconds, "words": words, "usage": usage}
