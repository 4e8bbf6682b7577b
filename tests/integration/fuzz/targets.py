"""What the spec-driven fuzzer drives: one ``FuzzTarget`` per published API description tollway serves.

A target names its OpenAPI document, the operations tollway serves from it, where the relay mounts them,
how a key is sent, and which model each operation's requests are pointed at (most generated requests
name a real, priced model served by the mock upstream, so they reach metering and billing rather than
stopping at ``model_not_found``). The Anthropic Messages family joins as a second target: its own
document, ``("POST", "/v1/messages")`` and friends, ``x-api-key`` auth, its models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as written in the document
    model: str | None = None  # the served model most requests use (None: leave what was generated)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class FuzzTarget:
    name: str
    spec: Path
    base_path: str  # where the document's paths live on the relay, e.g. "/v1"
    operations: tuple[Operation, ...]
    auth: Callable[[str], dict[str, str]]  # key → headers

    @property
    def models(self) -> list[str]:
        return sorted({op.model for op in self.operations if op.model})


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


OPENAI = FuzzTarget(
    name="openai",
    spec=ROOT / "tests" / "data" / "openai-openapi" / "openapi.yaml",
    base_path="/v1",
    operations=(
        Operation("POST", "/chat/completions", "t-resp"),
        Operation("POST", "/responses", "t-resp"),
        Operation("GET", "/responses/{response_id}"),
        Operation("DELETE", "/responses/{response_id}"),
        Operation("GET", "/responses/{response_id}/input_items"),
        Operation("POST", "/completions", "t-completions"),
        Operation("POST", "/embeddings", "t-embed"),
        Operation("POST", "/moderations", "t-moderation"),
        Operation("POST", "/images/generations", "t-gpt-image-2"),
        Operation("POST", "/images/edits", "t-gpt-image-2"),
        Operation("POST", "/images/variations", "t-dall-e-2"),
        Operation("POST", "/audio/speech", "t-tts-tokens"),
        Operation("POST", "/audio/transcriptions", "t-transcribe"),
        Operation("POST", "/audio/translations", "t-whisper"),
        Operation("GET", "/models"),
        Operation("GET", "/models/{model}", "t-resp"),
    ),
    auth=_bearer,
)

#: Every target the fuzzer runs (append the Anthropic target here when its routes exist).
TARGETS: tuple[FuzzTarget, ...] = (OPENAI,)
