"""The console's page and assets: files shipped beside this module, no build step, nothing from a CDN.

``index.html`` is served with ``no-cache`` and refers to each asset as ``console/static/<name>?v=<hash of
its content>``, so the assets themselves can be cached for a year (a new deploy changes the hash). Every
URL the page uses is relative, so the console works under an API Gateway stage path (``/live/``) too.
Every console response carries a strict Content-Security-Policy: scripts, styles and connections only
from this origin, images from this origin or https (the operator's logo), no framing, no plugins.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from tollway.errors import NotFound

__all__ = ["SECURITY_HEADERS", "index_page", "static_asset"]

_STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), clipboard-write=(self)",
}
_YEAR = "public, max-age=31536000, immutable"


@functools.cache
def _asset(name: str) -> tuple[bytes, str, str] | None:
    """(content, media type, short content hash) of a shipped asset; None for anything else."""
    path = _STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    return body, _TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:12]


@functools.cache
def _index() -> bytes:
    html = (_STATIC / "index.html").read_text("utf-8")
    for name in ("app.js", "app.css", "i18n.js", "logo.svg"):
        found = _asset(name)
        if found is not None:
            html = html.replace(f'"console/static/{name}"', f'"console/static/{name}?v={found[2]}"')
    return html.encode()


def index_page(request: Request) -> Response:
    headers = {**SECURITY_HEADERS, "cache-control": "no-cache"}
    return Response(_index(), media_type="text/html; charset=utf-8", headers=headers)


def static_asset(request: Request, name: str) -> Response:
    found = _asset(name)
    if found is None:
        raise NotFound(f"No console asset {name!r}.", code="unknown_route")
    body, media_type, digest = found
    etag = f'"{digest}"'
    headers = {
        **SECURITY_HEADERS,
        "etag": etag,
        "cache-control": _YEAR if request.query_params.get("v") else "no-cache",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
