"""The operator's Midjourney (and Suno) task options: deployment defaults from settings, overridden at
run time by ``mj.settings``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollway.settings import Settings

__all__ = ["MjOptions"]


@dataclass(frozen=True)
class MjOptions:
    """The operator's MJ options (``mj.settings``), each defaulting to the deployment's setting."""

    default_mode: str
    default_image_mode: str
    image_proxy_base: str | None
    public_base_url: str | None
    task_timeout_s: float
    refresh_after_s: float
    image_link_ttl_s: int
    notify_enabled: bool = True

    @classmethod
    def of(cls, settings: Settings, stored: dict[str, Any]) -> MjOptions:
        defaults: dict[str, Any] = {
            "default_mode": settings.mj_default_mode,
            "default_image_mode": settings.mj_default_image_mode,
            "image_proxy_base": settings.mj_image_proxy_base,
            "public_base_url": settings.mj_public_base_url,
            "task_timeout_s": settings.mj_task_timeout_s,
            "refresh_after_s": settings.mj_refresh_after_s,
            "image_link_ttl_s": settings.mj_image_link_ttl_s,
            "notify_enabled": True,
        }
        names = {f.name for f in fields(cls)}
        defaults.update({k: v for k, v in stored.items() if k in names})
        return cls(**defaults)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
