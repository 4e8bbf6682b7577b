"""Configuration and secret storage protocols."""

from __future__ import annotations

from typing import Any, Protocol

from tollway.config.model import Channel, ChannelStatus, Group
from tollway.pricing.markup import Markup
from tollway.pricing.schema import ModelPrice

__all__ = ["ConfigStore", "SecretStore"]


class ConfigStore(Protocol):
    def list_channels(self) -> list[Channel]: ...

    def get_channel(self, channel_id: str) -> Channel | None: ...

    def put_channel(self, channel: Channel, *, create: bool) -> None:
        """Store a channel. ``create=True`` refuses an existing id (ValueError); False requires one."""

    def delete_channel(self, channel_id: str) -> bool: ...

    def set_channel_status(
        self, channel_id: str, status: ChannelStatus, reason: str | None, *, only_if: ChannelStatus | None = None
    ) -> bool:
        """Change a channel's status (only from ``only_if`` when given). True if it changed."""

    def list_prices(self) -> dict[str, ModelPrice]:
        """Operator price overrides (merged over the shipped price file)."""

    def put_price(self, model: str, price: ModelPrice) -> None: ...

    def delete_price(self, model: str) -> bool: ...

    def list_markups(self) -> dict[str, Markup]:
        """Operator markups on shipped prices, by model name or pattern (``tollway/pricing/markup.py``)."""

    def put_markup(self, markup: Markup) -> None: ...

    def delete_markup(self, pattern: str) -> bool: ...

    def list_groups(self) -> dict[str, Group]: ...

    def put_group(self, group: Group) -> None: ...

    def delete_group(self, name: str) -> bool: ...

    def get_state(self, name: str) -> dict[str, Any] | None:
        """A small named JSON document of operator state (e.g. the last maintenance run)."""

    def put_state(self, name: str, data: dict[str, Any]) -> None: ...


class SecretStore(Protocol):
    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...
