"""Relay-mode images: tollway's own copy of a finished task's image, served at ``/mj/image/<id>``.

Discord attachment URLs expire (about a day) and are blocked in some regions, so a finished task's
image is copied to the image store (S3; the emulator's S3 locally) and served from there. Fetching it
is size- and time-capped; a URL outside the channel's own origin passes the SSRF guard (the channel's
origin is as trusted as the channel, and only it gets the channel key — a redirect from it to any
other origin is followed without the key, see ``tollway.ssrf``). Previews of a running task are
proxied live, never stored.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx2

from tollway.mj.model import ImageMode, Task, TaskStatus
from tollway.ssrf import Blocked, Origin, TooLarge, origin_of

if TYPE_CHECKING:
    from tollway.mj.context import TaskRuntime

__all__ = ["ImageCopier", "ImageUnavailable"]

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_S = 30.0


class ImageUnavailable(Exception):
    """The image cannot be served (none yet, refused by the guard, too large, upstream failed)."""


class ImageCopier:
    def __init__(self, runtime: TaskRuntime) -> None:
        self._rt = runtime

    def wanted(self, task: Task) -> bool:
        """A finished relay-mode task whose copy is neither made nor given up on."""
        return (
            self._rt.images is not None
            and task.status is TaskStatus.SUCCESS
            and task.image_mode is ImageMode.RELAY
            and task.image_key is None
            and task.image_error is None
            and bool(task.view.get("imageUrl"))
        )

    def key_of(self, task: Task) -> str:
        return f"{self._rt.settings.mj_image_prefix}{task.account_id}/{task.task_id}"

    def _fetch(self, task: Task) -> tuple[bytes, str]:
        url = task.view.get("imageUrl")
        if not isinstance(url, str) or not url:
            raise ImageUnavailable("the task has no image yet")
        channel = self._rt.channel(task.channel_id)
        trusted: list[Origin] = []
        headers: dict[str, str] = {}
        if channel is not None:
            try:
                trusted.append(origin_of(channel.base_url))
            except Blocked:
                pass
            if trusted and origin_of(url) == trusted[0]:
                # The guard sends these to this origin only: a redirect elsewhere goes without them.
                headers = self._rt.upstream.headers(channel, self._rt.svc.channel_secrets.get(channel.channel_id))
                headers.pop("content-type", None)
                headers["accept"] = "image/*"
        try:
            response = self._rt.http.request(
                "GET",
                url,
                headers=headers,
                trusted=trusted,
                timeout_s=_FETCH_TIMEOUT_S,
                max_bytes=self._rt.settings.mj_image_max_bytes,
            )
        except Blocked as blocked:
            raise ImageUnavailable(f"blocked: {blocked.reason}") from blocked
        except TooLarge as exc:
            raise ImageUnavailable("the image is over the size limit") from exc
        except httpx2.HTTPError as exc:
            raise ImageUnavailable(f"the image could not be fetched ({type(exc).__name__})") from exc
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status != 200 or not content_type.startswith(("image/", "video/")):
            raise ImageUnavailable(f"the upstream answered HTTP {response.status} ({content_type or 'no type'})")
        return response.body, content_type

    def copy(self, task: Task) -> Task:
        """Copy a finished task's image to the store (blocking); records the outcome on the task."""
        images = self._rt.images
        if images is None:
            return task
        key = self.key_of(task)
        try:
            body, content_type = self._fetch(task)
            images.put(key, body, content_type)
        except ImageUnavailable as exc:
            log.warning("image of task %s not copied: %s", task.task_id, exc)
            self._rt.tasks.set_image(task.task_id, image_key=None, error=str(exc))
            return task.replace(image_error=str(exc))
        self._rt.tasks.set_image(task.task_id, image_key=key, error=None)
        return task.replace(image_key=key)

    def serve(self, task: Task) -> tuple[bytes, str]:
        """The bytes to answer ``/mj/image/<id>`` with (blocking).

        Raises:
            ImageUnavailable: nothing to serve.
        """
        images = self._rt.images
        if images is not None and task.image_key:
            stored = images.get(task.image_key)
            if stored is not None:
                return stored
        if task.status is TaskStatus.SUCCESS and images is not None:
            copied = self.copy(task)  # the sweep has not got to it yet (or the object was lost)
            if copied.image_key:
                stored = images.get(copied.image_key)
                if stored is not None:
                    return stored
        return self._fetch(task)
