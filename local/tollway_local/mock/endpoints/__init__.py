"""The mock's endpoints. To add one, write a handler module here and add an `Endpoint` below
(docs/mock-upstream.md, "Adding an endpoint")."""

from __future__ import annotations

from tollway_local.mock.context import Endpoint
from tollway_local.mock.endpoints import (
    audio,
    chat,
    completions,
    embeddings,
    images,
    messages,
    mj,
    models,
    moderations,
    responses,
    suno,
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/chat/completions", frozenset({"POST"}), chat.chat_completions, fault_texts=chat.fault_texts),
    Endpoint("/models", frozenset({"GET"}), models.list_models, json_body=False, dialect="auto"),
    Endpoint(
        "/models/{id}", frozenset({"GET"}), models.get_model, json_body=False, pattern=models.ID_PATTERN, dialect="auto"
    ),
    # Anthropic's Messages API (docs/mock-upstream.md, "Anthropic's Messages API"; endpoints/messages.py).
    Endpoint(
        "/messages", frozenset({"POST"}), messages.create_message, fault_texts=messages.fault_texts, dialect="anthropic"
    ),
    Endpoint(
        "/messages/count_tokens",
        frozenset({"POST"}),
        messages.count_tokens,
        fault_texts=messages.fault_texts,
        dialect="anthropic",
    ),
    Endpoint("/images/generations", frozenset({"POST"}), images.image_generations, fault_texts=images.fault_texts),
    Endpoint("/images/edits", frozenset({"POST"}), images.image_edits, json_body=False),
    Endpoint("/images/variations", frozenset({"POST"}), images.image_variations, json_body=False),
    *mj.ENDPOINTS,  # the Midjourney-Proxy protocol (/mj/submit/…, /mj/task/…; endpoints/mj.py)
    *suno.ENDPOINTS,  # the Suno-API protocol (/suno/submit/…, /suno/fetch; endpoints/suno.py)
    # The rest of the OpenAI surface (docs/mock-upstream.md, "The rest of the surface").
    Endpoint("/responses", frozenset({"POST"}), responses.create_response, fault_texts=responses.fault_texts),
    Endpoint("/responses/input_tokens", frozenset({"POST"}), responses.input_tokens),
    Endpoint(
        "/responses/{id}",
        frozenset({"GET", "DELETE"}),
        responses.get_response,
        json_body=False,
        pattern=responses.ID_PATTERN,
    ),
    Endpoint(
        "/responses/{id}/input_items",
        frozenset({"GET"}),
        responses.input_items,
        json_body=False,
        pattern=responses.ITEMS_PATTERN,
    ),
    Endpoint(
        "/responses/{id}/cancel",
        frozenset({"POST"}),
        responses.cancel_response,
        json_body=False,
        pattern=responses.CANCEL_PATTERN,
    ),
    Endpoint("/completions", frozenset({"POST"}), completions.completions, fault_texts=completions.fault_texts),
    Endpoint("/embeddings", frozenset({"POST"}), embeddings.embeddings, fault_texts=embeddings.fault_texts),
    Endpoint("/moderations", frozenset({"POST"}), moderations.moderations, fault_texts=moderations.fault_texts),
    Endpoint("/audio/speech", frozenset({"POST"}), audio.speech, fault_texts=audio.speech_fault_texts),
    Endpoint("/audio/transcriptions", frozenset({"POST"}), audio.transcriptions, json_body=False),
    Endpoint("/audio/translations", frozenset({"POST"}), audio.translations, json_body=False),
)

__all__ = ["ENDPOINTS"]
