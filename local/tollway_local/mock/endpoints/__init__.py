"""The mock's endpoints. To add one, write a handler module here and add an `Endpoint` below
(docs/mock-upstream.md, "Adding an endpoint")."""

from __future__ import annotations

from tollway_local.mock.context import Endpoint
from tollway_local.mock.endpoints import chat, models

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/chat/completions", frozenset({"POST"}), chat.chat_completions, fault_texts=chat.fault_texts),
    Endpoint("/models", frozenset({"GET"}), models.list_models, json_body=False),
)

__all__ = ["ENDPOINTS"]
