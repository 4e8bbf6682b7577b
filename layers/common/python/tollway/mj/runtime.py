"""Everything the Midjourney relay needs, wired once per process from :class:`tollway.services.Services`.

The relay, the callback function and the admin commands share this: the task store and the engine,
the signing keys, the upstream client, the SSRF-guarded HTTP client and the operator's MJ options
(deployment defaults from settings, overridden at run time by ``mj.settings``).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from tollway.config.model import Channel
from tollway.mj.engine import TaskEngine
from tollway.mj.options import MjOptions
from tollway.mj.render import ImageLinks
from tollway.mj.signing import SigningKeys
from tollway.mj.upstream import MjUpstream
from tollway.ssrf import GuardedHttp, Resolver, SsrfPolicy
from tollway.tasks.runtimes import PerOwner

if TYPE_CHECKING:
    from tollway.services import Services

__all__ = ["MjOptions", "MjRuntime", "runtime_for"]


class MjRuntime:
    def __init__(self, svc: Services, *, resolver: Resolver | None = None) -> None:
        if svc.mj is None:
            raise RuntimeError("these services have no Midjourney stores")
        self.svc = svc
        self.settings = svc.settings
        stores = svc.mj
        self.tasks = stores.tasks
        self.images = stores.images
        self.options_store = stores.options
        vault, name = stores.vault, f"{svc.settings.secrets_prefix}mj/signing-key"
        self.keys = SigningKeys(lambda: vault.get_or_create(name))
        self.upstream = MjUpstream(
            timeout_s=self.settings.mj_upstream_timeout_s, connect_timeout_s=self.settings.upstream_connect_timeout_s
        )
        self.policy = SsrfPolicy.from_settings(self.settings, resolver=resolver)
        self.http = GuardedHttp(self.policy, timeout_s=self.settings.mj_hook_timeout_s)
        self._lock = threading.Lock()
        self._options: tuple[float, MjOptions] | None = None
        self.engine = TaskEngine(self)

    def options(self) -> MjOptions:
        """The operator's options, re-read at most every ``config_cache_ttl_s`` (blocking on a miss)."""
        cached = self._options
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.settings.config_cache_ttl_s:
            return cached[1]
        options = MjOptions.of(self.settings, self.options_store.get())
        with self._lock:
            self._options = (now, options)
        return options

    def forget_options(self) -> None:
        self._options = None

    def channel(self, channel_id: str) -> Channel | None:
        """A channel by id, from the catalog (blocking on a stale catalog)."""
        for channel in self.svc.catalog.get().channels:
            if channel.channel_id == channel_id:
                return channel
        return None

    def links(self, base: str | None, now_ms: int) -> ImageLinks:
        options = self.options()
        return ImageLinks(
            base=options.public_base_url or base,
            keys=self.keys,
            ttl_s=options.image_link_ttl_s,
            now_s=now_ms // 1000,
            proxy_base=options.image_proxy_base,
        )

    def close(self) -> None:
        """Close the upstream client's connections (tests; a process's runtime lives as long as it)."""
        self.upstream.close()

    def callback_url(self, base: str | None, task_id: str) -> str | None:
        """The capability URL the upstream calls back (None when tollway's public URL is unknown)."""
        root = self.options().public_base_url or base
        if not root:
            return None
        return f"{root.rstrip('/')}/mj/callback/{task_id}?sig={self.keys.callback_signature(task_id)}"


_RUNTIMES: PerOwner[Services, MjRuntime] = PerOwner(MjRuntime)


def runtime_for(svc: Services) -> MjRuntime:
    """The process's runtime for these services (one per ``Services`` object)."""
    return _RUNTIMES.get(svc)
