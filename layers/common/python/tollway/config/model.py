"""Channels (upstreams) and groups."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = ["CHANNEL_TYPES", "Channel", "ChannelStatus", "Group"]

# "mock" is the built-in fake; it speaks the OpenAI protocol like "openai".
CHANNEL_TYPES = ("openai", "azure", "mock", "midjourney", "suno", "anthropic", "bedrock")


class ChannelStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"  # by an operator
    AUTO_DISABLED = "auto_disabled"  # by tollway, with the reason recorded


@dataclass(frozen=True, slots=True)
class Channel:
    """An upstream. Its key is in the secret store (``has_key``), never here."""

    channel_id: str
    name: str
    type: str
    base_url: str
    models: tuple[str, ...]
    groups: tuple[str, ...] = ("default",)
    model_map: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    weight: int = 1
    status: ChannelStatus = ChannelStatus.ENABLED
    disabled_reason: str | None = None
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    has_key: bool = True
    created_at: int = 0
    updated_at: int = 0
    status_changed_at: int = 0  # ms; when the status last changed (maintenance reports auto-disables by it)

    def serves(self, model: str, group: str) -> bool:
        return self.status is ChannelStatus.ENABLED and model in self.models and group in self.groups

    def upstream_model(self, model: str) -> str:
        """The name the upstream knows the model by (the channel's mapping, else the same name)."""
        return self.model_map.get(model, model)

    def replace(self, **changes: Any) -> Channel:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "name": self.name,
            "type": self.type,
            "base_url": self.base_url,
            "models": list(self.models),
            "groups": list(self.groups),
            "model_map": self.model_map,
            "priority": self.priority,
            "weight": self.weight,
            "status": self.status.value,
            "disabled_reason": self.disabled_reason,
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "headers": self.headers,
            "settings": self.settings,
            "has_key": self.has_key,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "status_changed_at": self.status_changed_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["models"] = tuple(kwargs.get("models", ()))
        kwargs["groups"] = tuple(kwargs.get("groups", ("default",)))
        kwargs["status"] = ChannelStatus(kwargs.get("status", "enabled"))
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Group:
    """A customer group: a price ratio (``vip`` 0.8 pays 80%)."""

    name: str
    ratio: Decimal = Decimal(1)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ratio": str(self.ratio), "settings": self.settings}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        return cls(name=data["name"], ratio=Decimal(str(data.get("ratio", "1"))), settings=data.get("settings", {}))
