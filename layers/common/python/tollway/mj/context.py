"""What the task machinery (engine, image copier, notifier) needs of its runtime, as a protocol.

:class:`tollway.mj.runtime.MjRuntime` satisfies it. The machinery names this protocol rather than the
runtime, because the runtime builds the machinery: naming the runtime back would be an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tollway.config.model import Channel
    from tollway.mj.options import MjOptions
    from tollway.mj.ports import TaskStore
    from tollway.mj.render import ImageLinks
    from tollway.mj.signing import SigningKeys
    from tollway.mj.stores import ImageStore
    from tollway.mj.upstream import MjUpstream
    from tollway.services import Services
    from tollway.settings import Settings
    from tollway.ssrf import GuardedHttp

__all__ = ["TaskRuntime"]


class TaskRuntime(Protocol):
    svc: Services
    settings: Settings
    tasks: TaskStore
    images: ImageStore | None
    keys: SigningKeys
    upstream: MjUpstream
    http: GuardedHttp

    def options(self) -> MjOptions:
        """The operator's task options (blocking on a stale cache)."""
        ...

    def channel(self, channel_id: str) -> Channel | None:
        """A channel by id, from the catalog."""
        ...

    def links(self, base: str | None, now_ms: int) -> ImageLinks:
        """Signed image links for a task's view."""
        ...
