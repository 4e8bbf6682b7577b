"""The relay app for the concurrency ladder: the product's ASGI app (``relay.app.create_app``) on the
store stand-in (``bench/standin.py``), seeded in this process before uvicorn serves.

uvicorn calls ``app_from_env`` (``--factory bench.ladder_app:app_from_env``). Environment:

- ``LADDER_UPSTREAM``: the channel's base URL (the upstream tap in front of the mock);
- ``LADDER_STREAM_PACE``: the mock's tokens per second for the channel (an operator header);
- ``LADDER_STORE_LATENCY_MS`` / ``LADDER_STORE_CPU_MS``: the stand-in's round trip and CPU per call;
- ``LADDER_SEED_OUT``: where to write the seeded key (JSON) for the load generator;
- the usual ``TOLLWAY_*`` settings (e.g. ``TOLLWAY_STORE_THREADS``, ``TOLLWAY_UPSTREAM_MAX_CONNECTIONS``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path
from typing import Any, cast

from relay.app import create_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tollway.memory.backend import MemoryBackend
from tollway.services import LazyServices, Services
from tollway.settings import get_settings

from bench.seed import seed_lanes
from bench.standin import Delayed

__all__ = ["app_from_env"]


def app_from_env() -> ASGIApp:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    settings = get_settings()
    backend = MemoryBackend()
    memory = Services.in_memory(settings, backend)
    # Seed through the admin commands on the undelayed stores (as an operator would, before traffic).
    pace = {"x-mock-tokens-per-s": os.environ.get("LADDER_STREAM_PACE", "4")}
    seeded = seed_lanes(memory, base_urls={"st": os.environ["LADDER_UPSTREAM"]}, headers={"st": pace})
    latency_s = float(os.environ.get("LADDER_STORE_LATENCY_MS", "5")) / 1000
    cpu_s = float(os.environ.get("LADDER_STORE_CPU_MS", "0")) / 1000

    stores = {
        name: Delayed(getattr(memory, name), latency_s=latency_s, cpu_s=cpu_s)
        for name in ("ledger", "accounts", "config", "secrets", "usage")
    }
    services = Services.build(settings, **{name: cast(Any, store) for name, store in stores.items()})

    def count_calls() -> None:  # at shutdown: store calls per request, for the ladder's report
        requests = len(backend.usage)  # one usage record per billable request
        counted = {"calls": sum(s.calls for s in stores.values()), "requests": requests}
        counted |= {f"calls_{name}": store.calls for name, store in stores.items()}
        Path(os.environ["LADDER_SEED_OUT"] + ".calls").write_text(json.dumps(counted))

    lane = seeded["st"]
    Path(os.environ["LADDER_SEED_OUT"]).write_text(json.dumps({"key": lane.key, "account_id": lane.account_id}))
    gc.collect()
    gc.freeze()  # as LazyServices.get does once the long-lived objects exist
    app = create_app(settings, LazyServices(lambda: services))

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn re-raises SIGTERM after a graceful shutdown (no atexit): count when the lifespan ends
        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                count_calls()
            await send(message)

        await app(scope, receive, on_send if scope["type"] == "lifespan" else send)

    return counted
