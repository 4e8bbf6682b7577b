"""The Suno protocol on the relay (docs/suno.md): ``suno_routes(pipeline)``."""

from relay.suno.routes import suno_routes

__all__ = ["suno_routes"]
