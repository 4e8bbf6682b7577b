"""Who is calling a Midjourney route, as MJ clients say it, and the call's running facts.

Clients send the relay key as ``mj-api-secret`` (chatgpt-web-midjourney-proxy, LobeChat), as
``Authorization: Bearer`` (scripts, SDKs), as a bare ``Authorization`` value, or both (ChatGPT-
Midjourney). new-api's rule is followed: ``Authorization`` first (``Bearer `` stripped); if it is empty
or literally ``midjourney-proxy``, ``mj-api-secret``. The ``sk-`` prefix is optional, and a
``-<channel>`` suffix (new-api's admin channel pinning) is accepted and ignored: tollway picks the
channel itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio
from starlette.requests import Request
from tollway.auth import KeyContext
from tollway.errors import AuthenticationFailed, PermissionDenied
from tollway.keys import KEY_PREFIX
from tollway.mj.model import Phase, Task
from tollway.mj.modes import PathModes
from tollway.mj.runtime import MjRuntime
from tollway.services import Services
from tollway.settings import Settings

__all__ = ["MjCall", "authenticate", "mj_secret", "owned_task", "public_base"]


# What some clients put in Authorization when the real key is in mj-api-secret (not a credential).
_PLACEHOLDER = "midjourney-proxy"


def _strip_bearer(value: str) -> str:
    value = value.strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


def mj_secret(request: Request) -> str | None:
    """The customer key in the MJ clients' headers, normalised to ``sk-…``."""
    secret = _strip_bearer(request.headers.get("authorization", ""))
    if not secret or secret == _PLACEHOLDER:
        secret = _strip_bearer(request.headers.get("mj-api-secret", ""))
    if not secret:
        return None
    body = secret.removeprefix(KEY_PREFIX)
    return KEY_PREFIX + body.split("-", 1)[0]


async def authenticate(request: Request, svc: Services) -> KeyContext:
    """The caller, or a real 401/403 (never an envelope: clients must see auth failures as such)."""
    secret = mj_secret(request)
    if not secret:
        raise AuthenticationFailed("Missing API key: send it as 'mj-api-secret' or 'Authorization: Bearer sk-…'.")
    hit, context = svc.keys.cached(secret)
    if not hit:
        context = await anyio.to_thread.run_sync(svc.keys.lookup, secret)
    if context is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    key = context.key
    if key.expired(time.time()):
        raise PermissionDenied("This API key has expired.", code="key_expired")
    if not key.allows_ip(request.client.host if request.client else None):
        raise PermissionDenied("This API key may not be used from this IP address.", code="ip_not_allowed")
    return context


def public_base(request: Request, settings: Settings) -> str:
    """tollway's public URL as this request reached it (the operator's ``public_base_url`` wins).

    Behind API Gateway the path the function sees has lost the stage, so the stage is put back for
    an execute-api host; a custom domain with a base path needs ``public_base_url`` set.
    """
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("host", request.url.netloc)
    base = f"{proto}://{host}"
    if host.endswith(".amazonaws.com") and settings.stage:
        base += f"/{settings.stage}"
    return base


@dataclass
class MjCall:
    """One request to a Midjourney route."""

    rt: MjRuntime
    context: KeyContext
    request_id: str
    started: float
    created_at: int
    path: PathModes
    base: str

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def owned_task(call: MjCall, task_id: str) -> Task | None:
    """The caller's own accepted task, or None (unknown and another account's look the same)."""
    task = call.rt.tasks.get(task_id) if task_id.isdigit() else None
    if task is None or task.account_id != call.context.account.account_id or task.phase is not Phase.ACCEPTED:
        return None
    return task if task.kind == "mj" else None  # a Suno task in the same table is not an MJ task
