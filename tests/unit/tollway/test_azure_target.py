"""Azure OpenAI channels: deployment URLs with api-version and the api-key header; the Responses API and
model lists on Azure's v1 surface; OpenAI channels untouched."""

from __future__ import annotations

import pytest
from tollway.config.model import Channel
from tollway.upstream.client import AZURE_DEFAULT_API_VERSION, build_request_target


def azure(**settings: object) -> Channel:
    return Channel(
        channel_id="az",
        name="az",
        type="azure",
        base_url="https://res.openai.azure.com/",
        models=("gpt-x",),
        settings=dict(settings),
        headers={"X-Extra": "1"},
    )


@pytest.mark.parametrize(
    "path", ["/chat/completions", "/completions", "/embeddings", "/audio/transcriptions", "/audio/speech"]
)
def test_deployment_paths_carry_the_api_version_and_the_api_key(path: str) -> None:
    url, headers = build_request_target(azure(api_version="2025-01-01-preview"), path, "my-deploy", "secret")
    assert url == f"https://res.openai.azure.com/openai/deployments/my-deploy{path}?api-version=2025-01-01-preview"
    assert headers["api-key"] == "secret" and "authorization" not in headers
    assert headers["x-extra"] == "1"  # the operator's extra headers


def test_the_default_api_version_and_a_base_url_ending_in_openai() -> None:
    channel = azure().replace(base_url="https://res.openai.azure.com/openai")
    url, _ = build_request_target(channel, "/chat/completions", "d", "k")
    assert (
        url
        == f"https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version={AZURE_DEFAULT_API_VERSION}"
    )


def test_responses_and_models_use_the_v1_surface() -> None:
    url, _ = build_request_target(azure(), "/responses", "d", "k")
    assert url == "https://res.openai.azure.com/openai/v1/responses"
    url, _ = build_request_target(azure(responses_api_version="preview"), "/responses/resp_1?include=x", "", "k")
    assert url == "https://res.openai.azure.com/openai/v1/responses/resp_1?include=x&api-version=preview"
    url, _ = build_request_target(azure(), "/models", "", "k")
    assert url == "https://res.openai.azure.com/openai/v1/models"


def test_openai_channels_are_untouched() -> None:
    channel = Channel(channel_id="o", name="o", type="openai", base_url="https://api.x/v1", models=("m",))
    url, headers = build_request_target(channel, "/responses/r?a=1", "m", "sk")
    assert url == "https://api.x/v1/responses/r?a=1" and headers["authorization"] == "Bearer sk"
