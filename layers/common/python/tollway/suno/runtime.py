"""The Suno relay's runtime: the Midjourney runtime (task store, engine, options, channels) and the Suno
upstream client next to it, one per process and ``Services``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway.config.model import Channel
from tollway.mj.runtime import MjOptions, MjRuntime, runtime_for
from tollway.suno.upstream import SunoUpstream
from tollway.tasks.runtimes import PerOwner

if TYPE_CHECKING:
    from tollway.services import Services

__all__ = ["SunoRuntime", "suno_runtime_for", "suno_runtime_of"]


class SunoRuntime:
    def __init__(self, mj: MjRuntime) -> None:
        self.mj = mj
        self.svc = mj.svc
        self.settings = mj.settings
        self.tasks = mj.tasks
        self.engine = mj.engine
        # Suno-API can take a while to accept (its lyrics submit waits for the text): the MJ submit
        # timeout (60 s by default) applies, and a channel's own read timeout overrides it.
        self.upstream = SunoUpstream(
            timeout_s=self.settings.mj_upstream_timeout_s, connect_timeout_s=self.settings.upstream_connect_timeout_s
        )

    def options(self) -> MjOptions:
        """The task options (timeout, refresh interval) shared with the Midjourney relay."""
        return self.mj.options()

    def channel(self, channel_id: str) -> Channel | None:
        return self.mj.channel(channel_id)

    def close(self) -> None:
        self.upstream.close()


_RUNTIMES: PerOwner[MjRuntime, SunoRuntime] = PerOwner(SunoRuntime)


def suno_runtime_of(mj: MjRuntime) -> SunoRuntime:
    """The Suno runtime next to this Midjourney runtime (the sweep hands pollers the MJ runtime)."""
    return _RUNTIMES.get(mj)


def suno_runtime_for(svc: Services) -> SunoRuntime:
    """The process's Suno runtime for these services."""
    return suno_runtime_of(runtime_for(svc))
