"""An ``azure`` channel, checked at the fake upstream: deployment URLs with the channel's api-version,
the ``api-key`` header (never a Bearer key), extra headers, the Responses API on Azure's v1 surface —
and a model mapped to another name is billed by the name the customer asked for."""

from __future__ import annotations

from typing import Any

import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def azure_channel(stack: LocalStack, mock: MockServer, **extra: Any) -> str:
    return stack.channel(
        ["t-azure"],
        mock.url,  # the resource endpoint, as Azure shows it (no /v1)
        type="azure",
        api_key="azure-resource-key",
        model_map={"t-azure": "gpt-6.2-sol"},  # the deployment's name: a dearer model's name, on purpose
        settings={"api_version": "2025-04-01-preview"},
        headers={"x-ms-client-tag": "tollway-test"},
        **extra,
    )


def test_chat_reaches_the_deployment_url_with_api_version_and_api_key(stack: LocalStack, mock: MockServer) -> None:
    channel = azure_channel(stack, mock)
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-azure", messages=[{"role": "user", "content": "hi [[prompt=1000]] [[len=10]]"}], max_tokens=50
    )
    assert reply.usage is not None and reply.usage.prompt_tokens == 1000
    (seen,) = [r for r in mock.stats()["requests_log"] if r["endpoint"] == "/chat/completions"]
    assert seen["path"] == "/openai/deployments/gpt-6.2-sol/chat/completions"
    assert seen["query"] == "api-version=2025-04-01-preview"
    assert seen["headers"]["api-key"] == "azure-resource-key"
    assert "authorization" not in seen["headers"]
    assert seen["headers"]["x-ms-client-tag"] == "tollway-test"
    assert seen["body"]["model"] == "gpt-6.2-sol"
    (record,) = stack.wait_records(who.account_id, 1)
    assert (record["model"], record["upstream_model"], record["channel_id"]) == ("t-azure", "gpt-6.2-sol", channel)
    # Billed at t-azure's price (1 in, 4 out per token), not gpt-6.2-sol's (2 in, 10 out).
    assert record["charge"] == 1000 * 1 + 10 * 4


def test_responses_and_embeddings_on_azure(stack: LocalStack, mock: MockServer) -> None:
    azure_channel(stack, mock)
    who = stack.customer()
    client = stack.client(who.key)
    answer = client.responses.create(model="t-azure", input="hi [[prompt=200]] [[len=3]]", max_output_tokens=20)
    fetched = client.responses.retrieve(answer.id)
    assert fetched.id == answer.id
    client.embeddings.create(model="t-azure", input="vector me")
    log = mock.stats()["requests_log"]
    paths = [(r["method"], r["path"], r["query"]) for r in log]
    assert ("POST", "/openai/v1/responses", "") in paths  # the Responses API lives on Azure's v1 surface
    assert ("GET", f"/openai/v1/responses/{answer.id}", "") in paths
    assert ("POST", "/openai/deployments/gpt-6.2-sol/embeddings", "api-version=2025-04-01-preview") in paths
    assert all(r["headers"].get("api-key") == "azure-resource-key" for r in log)
    records = stack.wait_records(who.account_id, 2)
    assert {r["endpoint"] for r in records} == {"responses", "embeddings"}
    assert next(r for r in records if r["endpoint"] == "responses")["charge"] == 200 + 3 * 4


def test_the_channel_test_command_calls_the_azure_deployment(stack: LocalStack, mock: MockServer) -> None:
    channel = azure_channel(stack, mock)
    result = stack.admin("channel.test", channel_id=channel)
    assert result["ok"] is True and result["upstream_model"] == "gpt-6.2-sol"
    (seen,) = [r for r in mock.stats()["requests_log"] if r["endpoint"] == "/chat/completions"]
    assert seen["path"] == "/openai/deployments/gpt-6.2-sol/chat/completions"
    assert seen["query"] == "api-version=2025-04-01-preview" and seen["headers"]["api-key"] == "azure-resource-key"
