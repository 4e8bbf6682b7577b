"""`tollway local` prints its banner (the URL and the demo key a person or a test waits for) only once
uvicorn has taken over Ctrl-C: a SIGINT the moment the banner appears then always shuts the stack
down, instead of landing before the server's handlers exist."""

from __future__ import annotations

import signal
import socket
from typing import Any

import uvicorn
from tollway_local.stack import _announcing_server


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A do-nothing ASGI app (the stack's own app is not needed to test when the banner comes)."""


def test_the_banner_comes_once_the_server_owns_ctrl_c() -> None:
    seen: list[object] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, lifespan="off", log_level="warning")

    def announce() -> None:
        seen.append(signal.getsignal(signal.SIGINT))
        server.should_exit = True  # the banner is out: stop at once

    server = _announcing_server(config, announce)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    assert len(seen) == 1
    assert seen[0] is not signal.default_int_handler  # uvicorn's handler, installed before the banner
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and given back after
