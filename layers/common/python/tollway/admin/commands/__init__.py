"""The commands. ``load()`` imports every command module once, registering its commands."""

from __future__ import annotations

import functools

from tollway.admin.registry import REGISTRY, Registry

__all__ = ["load"]


@functools.cache
def load() -> Registry:
    import importlib

    for name in (
        "accounts",
        "audit",
        "channels",
        "console",
        "groups",
        "keys",
        "maintenance",
        "mj",
        "prices",
        "redeem",
        "stats",
        "suno",
        "trail",
        "usage",
    ):
        importlib.import_module(f"tollway.admin.commands.{name}")
    return REGISTRY
