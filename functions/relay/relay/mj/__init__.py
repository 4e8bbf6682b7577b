"""The Midjourney-Proxy protocol on the relay (docs/midjourney.md): ``mj_routes(pipeline)``."""

from relay.mj.routes import mj_routes

__all__ = ["mj_routes"]
