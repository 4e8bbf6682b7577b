"""A task as clients read it (new-api's ``MidjourneyDto`` field set), and the submit envelope.

Nothing upstream-specific leaks: the id is tollway's, upstream ids in the description are replaced by
tollway's, ``properties`` is filtered to ``finalPrompt``/``finalZhPrompt``, and the image URL follows
the image mode — ``origin`` (the upstream's URL), ``proxy`` (its host replaced by the image proxy base)
or ``relay`` (a signed, expiring ``/mj/image/<id>`` link on tollway itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2

from tollway.mj.model import ImageMode, Phase, Task, TaskStatus
from tollway.mj.signing import SigningKeys

__all__ = ["ImageLinks", "envelope", "image_url", "render_task", "rewrite_host"]

_LINK_GRANULARITY_S = 3600


def envelope(
    code: int, description: str, result: Any = None, properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The MJ submit result envelope (SubmitResultVO)."""
    return {"code": code, "description": description, "result": result, "properties": properties or {}}


@dataclass(frozen=True)
class ImageLinks:
    """What building image URLs needs: tollway's public base, the link key, the proxy base."""

    base: str | None
    keys: SigningKeys
    ttl_s: int
    now_s: int
    proxy_base: str | None = None

    def relay_link(self, task_id: str) -> str | None:
        if not self.base:
            return None
        # Expiry rounded up to the hour: the same link for an hour, so browsers and CDNs can cache it.
        expires = (self.now_s // _LINK_GRANULARITY_S + 1) * _LINK_GRANULARITY_S + self.ttl_s
        signature = self.keys.image_signature(task_id, expires)
        return f"{self.base.rstrip('/')}/mj/image/{task_id}?exp={expires}&sig={signature}"


def rewrite_host(url: str, proxy_base: str) -> str:
    """``https://cdn.discordapp.com/a/b.png?x=1`` with base ``https://img.example/p`` →
    ``https://img.example/p/a/b.png?x=1``."""
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        return url
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return url
    query = parsed.query.decode()
    return proxy_base.rstrip("/") + parsed.path + (f"?{query}" if query else "")


def image_url(task: Task, mode: ImageMode, links: ImageLinks) -> str:
    upstream = task.view.get("imageUrl")
    if not isinstance(upstream, str) or not upstream:
        return ""
    if mode is ImageMode.ORIGIN:
        return upstream
    if mode is ImageMode.PROXY:
        return rewrite_host(upstream, links.proxy_base) if links.proxy_base else upstream
    link = links.relay_link(task.task_id)
    if link is None:
        return upstream  # no public base known: nothing to link to (docs/midjourney.md)
    # A preview changes while the task runs: a version in the URL keeps caches from pinning an old one.
    return link if task.status is TaskStatus.SUCCESS else f"{link}&v={task.rank}"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _description(task: Task) -> str:
    text = task.view.get("description")
    description = text if isinstance(text, str) else ""
    for upstream, ours in ((task.upstream_id, task.task_id), (task.parent_upstream_id, task.parent_id)):
        if upstream and ours:
            description = description.replace(upstream, ours)
    if description:
        return description
    if task.action == "IMAGINE":
        return f"/imagine {task.prompt}"
    return "Submit success"


def render_task(task: Task, mode: ImageMode, links: ImageLinks) -> dict[str, Any]:
    view = task.view
    status = TaskStatus.NOT_START if task.phase is Phase.PENDING else task.status
    return {
        "id": task.task_id,
        "action": task.action,
        "customId": task.custom_id,
        "botType": task.bot_type,
        "maskBase64": "",
        "prompt": task.prompt,
        "promptEn": view.get("promptEn") if isinstance(view.get("promptEn"), str) else "",
        "description": _description(task),
        "state": task.state,
        "submitTime": task.created_at,
        "startTime": _int(view.get("startTime")),
        "finishTime": _int(view.get("finishTime")),
        "imageUrl": image_url(task, mode, links),
        "videoUrl": view.get("videoUrl") if isinstance(view.get("videoUrl"), str) else "",
        "videoUrls": view.get("videoUrls") if isinstance(view.get("videoUrls"), list) else [],
        "status": status.value,
        "progress": task.progress,
        "failReason": view.get("failReason") if isinstance(view.get("failReason"), str) else "",
        "buttons": view.get("buttons") if isinstance(view.get("buttons"), list) else [],
        "properties": view.get("properties") if isinstance(view.get("properties"), dict) else {},
        "mode": task.mode.value,
    }
