"""The relay app on loopback in this process (uvicorn in a thread) over in-memory stores: for tests that
need settings the shared local stack does not have (short deadlines, fast heartbeats)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from relay.app import create_app
from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway.memory.backend import MemoryBackend
from tollway.services import LazyServices, Services
from tollway.settings import Settings

from tests.support.stack import TEST_PRICES


@dataclass
class InProcessRelay:
    url: str
    services: Services

    def admin(self, command: str, **args: Any) -> Any:
        envelope = load().dispatch(command, args, AdminContext(services=self.services, actor="test"))
        assert envelope["ok"], envelope
        return envelope["result"]


@contextmanager
def relay_server(**overrides: Any) -> Iterator[InProcessRelay]:
    settings = Settings(price_file=str(TEST_PRICES), **overrides)
    services = Services.in_memory(settings, MemoryBackend())
    app = create_app(settings, LazyServices(lambda: services))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", loop="asyncio", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("relay did not start")
        time.sleep(0.01)
    try:
        yield InProcessRelay(url=f"http://127.0.0.1:{port}", services=services)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
