"""First-run (and every-run) setup of the local stack, all idempotent.

- the admin secret (``<state>/admin-secret``, mode 600): what ``tollway admin`` authenticates with;
- the demo account with $1.00 and its key. The key's plaintext is kept in ``<state>/demo-key`` (mode
  600) so a restart prints the same key — only the local stack does this; AWS never stores plaintext;
- the ``mock`` channel, pointed at this run's mock upstream, serving every priced OpenAI chat and image model;
- the ``midjourney`` channel, the same mock speaking the Midjourney-Proxy protocol;
- the ``suno`` channel, the same mock speaking the Suno-API protocol (docs/suno.md);
- the ``bedrock`` channel, the same mock speaking the Bedrock runtime protocol (docs/bedrock.md);
- with ``OPENAI_API_KEY`` set, an ``openai`` channel for the real API at a lower priority than nothing
  else (priority 10: it wins over the mock when present);
- the ``claude-mock`` channel (type ``anthropic``), the same mock speaking Anthropic's Messages API, serving
  every priced Claude model; with ``ANTHROPIC_API_KEY`` set, an ``anthropic`` channel for the real API
  (``ANTHROPIC_BASE_URL`` or Anthropic's own), priority 10 like the OpenAI one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.bedrock.channel import is_bedrock_model_id
from tollway.config.model import Channel, ChannelStatus
from tollway.ids import movement_id
from tollway.keys import display_prefix, generate_key, hash_key, is_well_formed
from tollway.pricing.schema import shipped_prices
from tollway.services import Services

__all__ = ["DEMO_ACCOUNT_ID", "Bootstrap", "bootstrap", "ensure_admin_secret"]

DEMO_ACCOUNT_ID = "acct_demo"
DEMO_KEY_ID = "key_demo"
DEMO_CREDIT = 1_000_000  # $1.00


@dataclass(frozen=True)
class Bootstrap:
    demo_key: str
    demo_account_id: str


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def ensure_admin_secret(state_dir: Path) -> str:
    path = state_dir / "admin-secret"
    if path.exists():
        return path.read_text().strip()
    secret = "adm-" + secrets.token_urlsafe(32)
    _write_private(path, secret + "\n")
    return secret


def _ensure_demo(services: Services, state_dir: Path, now: int, wanted: str | None = None) -> str:
    key_file = state_dir / "demo-key"
    if wanted is not None:
        if not is_well_formed(wanted):
            raise ValueError("the demo key must be a well-formed tollway key (sk-…, with its checksum)")
        _write_private(key_file, wanted + "\n")  # then found, or created with this secret, below
    if services.accounts.get_account(DEMO_ACCOUNT_ID) is None:
        account = Account(
            account_id=DEMO_ACCOUNT_ID,
            name="Demo",
            group="default",
            status=AccountStatus.ACTIVE,
            balance=0,
            created_at=now,
        )
        movement = services.accounts.create_account(
            account, initial_credit=DEMO_CREDIT, movement_id=movement_id(now), reason="signup", actor="local", now=now
        )
        if movement is not None:
            services.biller.finish(movement)
    if key_file.exists():
        secret = key_file.read_text().strip()
        if services.accounts.get_key(hash_key(secret)) is not None:
            return secret
    secret = wanted or generate_key()
    services.accounts.create_key(
        ApiKey(
            key_hash=hash_key(secret),
            key_id=DEMO_KEY_ID if services.accounts.get_key_by_id(DEMO_KEY_ID) is None else f"key_demo_{now}",
            account_id=DEMO_ACCOUNT_ID,
            name="demo",
            prefix=display_prefix(secret),
            status=KeyStatus.ACTIVE,
            created_at=now,
        )
    )
    _write_private(key_file, secret + "\n")
    return secret


def _upsert_channel(services: Services, channel: Channel, secret: str | None) -> None:
    existing = services.config.get_channel(channel.channel_id)
    if secret is not None:
        services.channel_secrets.put(channel.channel_id, secret)
    if existing is None:
        services.config.put_channel(channel, create=True)
    else:
        # Keep the operator's status and settings; only the address and the model list follow this run.
        services.config.put_channel(
            existing.replace(base_url=channel.base_url, models=channel.models, updated_at=channel.updated_at),
            create=False,
        )


def _chat_models() -> tuple[str, ...]:
    """The shipped OpenAI chat models (models added by a local price file get channels of their own).
    Claude models are served by the Anthropic channels, never by the OpenAI-speaking mock channel;
    Bedrock model ids by the ``bedrock`` channel."""
    prices = shipped_prices().models
    claude = set(_claude_models())
    return tuple(
        sorted(
            m
            for m, p in prices.items()
            if (p.endpoints is None or "chat.completions" in p.endpoints)
            and m not in claude
            and not is_bedrock_model_id(m)
        )
    )


def _bedrock_channel(mock_base_url: str, now: int) -> Channel:
    """The mock's Bedrock runtime side (same server, root URL) serving every shipped Bedrock model id,
    signed with the local stack's placeholder AWS credentials (the mock checks the signature's shape)."""
    prices = shipped_prices().models
    return Channel(
        channel_id="bedrock",
        name="Built-in mock Amazon Bedrock",
        type="bedrock",
        base_url=mock_base_url.removesuffix("/v1"),
        models=tuple(sorted(m for m in prices if is_bedrock_model_id(m))),
        groups=("default",),
        status=ChannelStatus.ENABLED,
        settings={"region": "us-east-1"},
        has_key=False,
        created_at=now,
        updated_at=now,
    )


def _claude_models() -> tuple[str, ...]:
    """The shipped models of Anthropic's Messages API (the price file lists `messages` among their
    endpoints); Bedrock's Claude ids are the ``bedrock`` channel's."""
    prices = shipped_prices().models
    return tuple(
        sorted(m for m, p in prices.items() if p.endpoints and "messages" in p.endpoints and not is_bedrock_model_id(m))
    )


def _anthropic_channel(channel_id: str, name: str, base_url: str, now: int, *, priority: int = 0) -> Channel:
    return Channel(
        channel_id=channel_id,
        name=name,
        type="anthropic",
        base_url=base_url,
        models=_claude_models(),
        groups=("default",),
        priority=priority,
        status=ChannelStatus.ENABLED,
        created_at=now,
        updated_at=now,
    )


_IMAGE_ENDPOINTS = frozenset({"images.generations", "images.edits", "images.variations"})


def _image_models() -> tuple[str, ...]:
    """The shipped image models (gpt-image-*, dall-e-*): the mock draws them too."""
    prices = shipped_prices().models
    return tuple(sorted(m for m, p in prices.items() if p.endpoints and _IMAGE_ENDPOINTS & set(p.endpoints)))


_SURFACE_ENDPOINTS = frozenset(
    {"responses", "completions", "embeddings", "moderations"}
    | {"audio.speech", "audio.transcriptions", "audio.translations"}
)


def _surface_models() -> tuple[str, ...]:
    """The shipped models of the rest of the OpenAI surface (Responses-only, legacy completions,
    embeddings, moderation, audio): the mock serves every one of those endpoints."""
    prices = shipped_prices().models
    return tuple(sorted(m for m, p in prices.items() if p.endpoints and _SURFACE_ENDPOINTS & set(p.endpoints)))


def _midjourney_channel(mock_base_url: str, now: int) -> Channel:
    """The mock's Midjourney-Proxy side (same server, root URL) serving every MJ action."""
    from tollway.mj.actions import ACTIONS

    return Channel(
        channel_id="midjourney",
        name="Built-in mock Midjourney-Proxy",
        type="midjourney",
        base_url=mock_base_url.removesuffix("/v1"),
        models=tuple(sorted({spec.base_key for spec in ACTIONS.values()})),
        groups=("default",),
        status=ChannelStatus.ENABLED,
        settings={"mode_path": True},
        created_at=now,
        updated_at=now,
    )


def _suno_channel(mock_base_url: str, now: int) -> Channel:
    """The mock's Suno-API side (same server, root URL) serving both Suno actions."""
    from tollway.suno.model import KIND, PRICE_KEYS

    return Channel(
        channel_id="suno",
        name="Built-in mock Suno-API",
        type=KIND,
        base_url=mock_base_url.removesuffix("/v1"),
        models=tuple(sorted(PRICE_KEYS.values())),
        groups=("default",),
        status=ChannelStatus.ENABLED,
        created_at=now,
        updated_at=now,
    )


def bootstrap(
    services: Services, state_dir: Path, mock_base_url: str, now: int, *, demo_key: str | None = None
) -> Bootstrap:
    demo_key = _ensure_demo(services, state_dir, now, demo_key)
    models = tuple(dict.fromkeys(_chat_models() + _image_models() + _surface_models()))
    _upsert_channel(
        services,
        Channel(
            channel_id="mock",
            name="Built-in mock upstream",
            type="mock",
            base_url=mock_base_url,
            models=models,
            groups=("default",),
            status=ChannelStatus.ENABLED,
            created_at=now,
            updated_at=now,
        ),
        "mock-key",
    )
    openai_key = os.environ.get("OPENAI_API_KEY")
    if openai_key:
        _upsert_channel(
            services,
            Channel(
                channel_id="openai",
                name="OpenAI",
                type="openai",
                base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                models=models,
                groups=("default",),
                priority=10,
                status=ChannelStatus.ENABLED,
                created_at=now,
                updated_at=now,
            ),
            openai_key,
        )
    _upsert_channel(services, _midjourney_channel(mock_base_url, now), "mock-key")
    _upsert_channel(services, _suno_channel(mock_base_url, now), "mock-key")
    _upsert_channel(services, _bedrock_channel(mock_base_url, now), None)
    if _claude_models():
        # Anthropic bases are the host root: clients and the relay append /v1/messages.
        root = mock_base_url.removesuffix("/v1")
        _upsert_channel(services, _anthropic_channel("claude-mock", "Built-in mock Claude", root, now), "mock-key")
        anthropic_key = os.environ.get("ANTHROPIC_API_KEY")
        if anthropic_key:
            base = os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
            channel = _anthropic_channel("anthropic", "Anthropic", base, now, priority=10)
            _upsert_channel(services, channel, anthropic_key)
    services.catalog.invalidate()
    (state_dir / "bootstrap.json").write_text(json.dumps({"demo_account_id": DEMO_ACCOUNT_ID}))
    return Bootstrap(demo_key=demo_key, demo_account_id=DEMO_ACCOUNT_ID)
