"""In-memory configuration and secrets."""

from __future__ import annotations

import json
import time
from typing import Any

from tollway.config.model import Channel, ChannelStatus, Group
from tollway.memory.backend import MemoryBackend
from tollway.pricing.markup import Markup
from tollway.pricing.schema import ModelPrice

__all__ = ["MemoryConfig", "MemorySecrets"]


class MemoryConfig:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    @property
    def backend(self) -> MemoryBackend:
        return self._b

    def _list(self, kind: str) -> list[dict[str, object]]:
        with self._b.lock:
            return [v for (k, _), v in sorted(self._b.config.items()) if k == kind]

    def list_channels(self) -> list[Channel]:
        return [Channel.from_json(json.loads(str(v["data"]))) for v in self._list("channel")]

    def get_channel(self, channel_id: str) -> Channel | None:
        with self._b.lock:
            item = self._b.config.get(("channel", channel_id))
        return None if item is None else Channel.from_json(json.loads(str(item["data"])))

    def put_channel(self, channel: Channel, *, create: bool) -> None:
        with self._b.lock:
            exists = ("channel", channel.channel_id) in self._b.config
            if create and exists:
                raise ValueError(f"channel {channel.channel_id} exists")
            if not create and not exists:
                raise LookupError(channel.channel_id)
            self._b.config[("channel", channel.channel_id)] = {"data": json.dumps(channel.to_json())}

    def delete_channel(self, channel_id: str) -> bool:
        with self._b.lock:
            return self._b.config.pop(("channel", channel_id), None) is not None

    def set_channel_status(
        self, channel_id: str, status: ChannelStatus, reason: str | None, *, only_if: ChannelStatus | None = None
    ) -> bool:
        with self._b.lock:
            channel = self.get_channel(channel_id)
            if channel is None or (only_if is not None and channel.status is not only_if):
                return False
            changed = channel.replace(status=status, disabled_reason=reason, status_changed_at=int(time.time() * 1000))
            self._b.config[("channel", channel_id)] = {"data": json.dumps(changed.to_json())}
            return True

    def list_prices(self) -> dict[str, ModelPrice]:
        with self._b.lock:
            return {
                sk: ModelPrice.model_validate_json(str(v["data"]))
                for (k, sk), v in self._b.config.items()
                if k == "price"
            }

    def put_price(self, model: str, price: ModelPrice) -> None:
        with self._b.lock:
            self._b.config[("price", model)] = {"data": price.model_dump_json(exclude_none=True)}

    def delete_price(self, model: str) -> bool:
        with self._b.lock:
            return self._b.config.pop(("price", model), None) is not None

    def list_markups(self) -> dict[str, Markup]:
        markups = (Markup.from_json(json.loads(str(v["data"]))) for v in self._list("markup"))
        return {m.pattern: m for m in markups}

    def put_markup(self, markup: Markup) -> None:
        with self._b.lock:
            self._b.config[("markup", markup.pattern)] = {"data": json.dumps(markup.to_json())}

    def delete_markup(self, pattern: str) -> bool:
        with self._b.lock:
            return self._b.config.pop(("markup", pattern), None) is not None

    def list_groups(self) -> dict[str, Group]:
        return {g.name: g for g in (Group.from_json(json.loads(str(v["data"]))) for v in self._list("group"))}

    def put_group(self, group: Group) -> None:
        with self._b.lock:
            self._b.config[("group", group.name)] = {"data": json.dumps(group.to_json())}

    def delete_group(self, name: str) -> bool:
        with self._b.lock:
            return self._b.config.pop(("group", name), None) is not None

    def get_state(self, name: str) -> dict[str, Any] | None:
        with self._b.lock:
            item = self._b.config.get(("state", name))
        return None if item is None else dict(json.loads(str(item["data"])))

    def put_state(self, name: str, data: dict[str, Any]) -> None:
        with self._b.lock:
            self._b.config[("state", name)] = {"data": json.dumps(data)}


class MemorySecrets:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend

    def get(self, name: str) -> str | None:
        with self._b.lock:
            return self._b.secrets.get(name)

    def put(self, name: str, value: str) -> None:
        with self._b.lock:
            self._b.secrets[name] = value

    def delete(self, name: str) -> None:
        with self._b.lock:
            self._b.secrets.pop(name, None)
