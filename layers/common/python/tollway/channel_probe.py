"""Operator probes of a channel: a test call (one real minimal request, latency shown) and the
upstream balance where the provider exposes one. Nothing here is billed to a customer.

Balance sources, by provider (the request carries the channel's own key, to its own host only):

- OpenRouter (``openrouter.ai``): ``GET /credits`` → total credits − total usage;
- DeepSeek (``api.deepseek.com``): ``GET /user/balance`` → the USD balance;
- any other OpenAI-compatible base URL: the dashboard endpoints that one-api/new-api style relays
  serve (``GET /dashboard/billing/subscription`` → ``hard_limit_usd``, minus
  ``GET /dashboard/billing/usage`` → ``total_usage`` in cents). OpenAI itself no longer answers them
  for API keys: the result says "not available" then.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from tollway.bedrock.probe import probe_bedrock
from tollway.config.model import Channel
from tollway.settings import Settings
from tollway.upstream.client import build_request_target
from tollway.upstream.failures import scrub

__all__ = ["balance_of", "make_client", "probe_call"]

_UNTESTABLE = {
    "midjourney": "a Midjourney-Proxy channel has no chat endpoint to test",
    "suno": "a Suno API channel has no chat endpoint to test",
}


def make_client(settings: Settings) -> httpx2.AsyncClient:
    """The probe's HTTP client (tests replace this factory to answer from a mock transport)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(60.0, connect=settings.upstream_connect_timeout_s),
        follow_redirects=False,
        trust_env=False,
    )


def _usd(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


async def probe_call(
    client: httpx2.AsyncClient, channel: Channel, secret: str | None, model: str, *, reasoning: bool
) -> dict[str, Any]:
    """One minimal chat completion through the channel; the result says what happened and how fast."""
    upstream_model = channel.upstream_model(model)
    out: dict[str, Any] = {"channel_id": channel.channel_id, "model": model, "upstream_model": upstream_model}
    if channel.type in _UNTESTABLE:
        return {**out, "ok": False, "status": None, "latency_ms": None, "error": _UNTESTABLE[channel.type]}
    # Anthropic's Messages API has one (required) output limit, max_tokens.
    limit_field = "max_completion_tokens" if reasoning and channel.type != "anthropic" else "max_tokens"
    body = {"model": upstream_model, "messages": [{"role": "user", "content": "Reply with OK."}], limit_field: 16}
    path = "/v1/messages" if channel.type == "anthropic" else "/chat/completions"
    url, headers = build_request_target(channel, path, upstream_model, secret)
    timeout = httpx2.Timeout(channel.read_timeout_s or 60.0, connect=channel.connect_timeout_s or 10.0)
    started = time.monotonic()
    try:
        if channel.type == "bedrock":  # signed with the function's role; Converse answers as chat
            status, data = await probe_bedrock(client, channel, upstream_model)
            text = ""
        else:
            response = await client.post(url, content=orjson.dumps(body), headers=headers, timeout=timeout)
            status, text = response.status_code, response.text
            try:
                data = response.json()
            except ValueError:
                data = None
    except httpx2.HTTPError as exc:
        latency = int((time.monotonic() - started) * 1000)
        error = "timed out" if isinstance(exc, httpx2.TimeoutException) else f"connection failed ({type(exc).__name__})"
        return {**out, "ok": False, "status": None, "latency_ms": latency, "error": error}
    latency = int((time.monotonic() - started) * 1000)
    out.update(status=status, latency_ms=latency)
    if not 200 <= status < 300:
        message = (data.get("error", {}).get("message") or data.get("message")) if isinstance(data, dict) else None
        error = scrub(str(message or text or f"HTTP {status}"), 300)
        return {**out, "ok": False, "error": error}
    try:
        if channel.type == "anthropic":
            reply = "".join(str(b.get("text") or "") for b in data["content"] if b.get("type") == "text")
        else:
            reply = str(data["choices"][0]["message"].get("content") or "")
    except (TypeError, KeyError, IndexError, AttributeError):
        return {**out, "ok": False, "error": "the answer is not a chat completion or a message"}
    return {**out, "ok": True, "reply": scrub(reply, 200), "usage": data.get("usage")}


async def _get_json(client: httpx2.AsyncClient, channel: Channel, url: str, secret: str | None) -> Any:
    _, headers = build_request_target(channel, "", "", secret)
    response = await client.get(url, headers=headers)
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


async def balance_of(client: httpx2.AsyncClient, channel: Channel, secret: str | None) -> dict[str, Any]:
    """The upstream's remaining balance in USD, where the provider exposes it."""
    base = channel.base_url.rstrip("/")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    host = parts.hostname or ""
    out: dict[str, Any] = {"channel_id": channel.channel_id, "supported": False, "balance_usd": None}
    if channel.type not in ("openai", "mock"):
        return {**out, "detail": f"channels of type {channel.type} expose no balance"}
    try:
        if host.endswith("openrouter.ai"):
            data = await _get_json(client, channel, f"{base}/credits", secret)
            credits = data.get("data", {}) if isinstance(data, dict) else {}
            total, used = _usd(credits.get("total_credits")), _usd(credits.get("total_usage"))
            if total is not None and used is not None:
                return {**out, "supported": True, "balance_usd": str(total - used), "source": "openrouter /credits"}
        elif host == "api.deepseek.com":
            data = await _get_json(client, channel, f"{origin}/user/balance", secret)
            infos = data.get("balance_infos", []) if isinstance(data, dict) else []
            for info in infos:
                if info.get("currency") == "USD" and _usd(info.get("total_balance")) is not None:
                    usd = str(_usd(info["total_balance"]))
                    return {**out, "supported": True, "balance_usd": usd, "source": "deepseek /user/balance"}
        else:
            subscription = await _get_json(client, channel, f"{base}/dashboard/billing/subscription", secret)
            limit = _usd(subscription.get("hard_limit_usd")) if isinstance(subscription, dict) else None
            if limit is not None:
                today = datetime.now(tz=UTC).date()
                start = (today - timedelta(days=99)).isoformat()
                end = (today + timedelta(days=1)).isoformat()
                usage = await _get_json(
                    client, channel, f"{base}/dashboard/billing/usage?start_date={start}&end_date={end}", secret
                )
                cents = _usd(usage.get("total_usage")) if isinstance(usage, dict) else None
                balance = limit - (cents or Decimal(0)) / 100
                source = "dashboard/billing/subscription" + (" − usage" if cents is not None else "")
                return {**out, "supported": True, "balance_usd": str(balance), "source": source}
    except httpx2.HTTPError as exc:
        return {**out, "detail": f"the balance query failed ({type(exc).__name__})"}
    return {**out, "detail": "this upstream does not expose a balance to its API key"}
