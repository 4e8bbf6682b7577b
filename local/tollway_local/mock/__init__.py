"""tollway's mock upstream: a deterministic OpenAI-compatible server with fault modes (docs/mock-upstream.md)."""

from __future__ import annotations

from tollway_local.mock.app import MockApp, MockDispatcher, create_mock_app
from tollway_local.mock.config import DEFAULT_MODELS, MockConfig
from tollway_local.mock.context import Endpoint, MockRequest
from tollway_local.mock.errors import LEAK_KEY, LEAK_URL, MockHTTPError
from tollway_local.mock.faults import KNOWN_MODES, Faults
from tollway_local.mock.server import MockProcess, MockServer
from tollway_local.mock.text import completion_text
from tollway_local.mock.usage import expected_usage, plan_chat

__all__ = [
    "DEFAULT_MODELS",
    "KNOWN_MODES",
    "LEAK_KEY",
    "LEAK_URL",
    "Endpoint",
    "Faults",
    "MockApp",
    "MockConfig",
    "MockDispatcher",
    "MockHTTPError",
    "MockProcess",
    "MockRequest",
    "MockServer",
    "completion_text",
    "create_mock_app",
    "expected_usage",
    "plan_chat",
]
