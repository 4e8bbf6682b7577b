"""Local AWS emulator: moto (DynamoDB, S3, Secrets Manager, SNS) serialised, template-driven, snapshotted.

See docs/local-emulator.md. The template helpers and `EmulatorProcess` import neither moto nor its
server; `EmulatorServer`, `serialised_moto_app` and `SnapshotError` load moto on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tollway_local.emulator.clients import client, environment, session_kwargs
from tollway_local.emulator.process import EmulatorProcess, EmulatorStartError
from tollway_local.emulator.resources import CreatedResources, create_resources
from tollway_local.emulator.template import (
    TemplateError,
    bucket_names,
    load_template,
    table_definitions,
    topic_names,
)

if TYPE_CHECKING:
    from tollway_local.emulator.restore import SnapshotError
    from tollway_local.emulator.server import EmulatorServer
    from tollway_local.emulator.wsgi import SerialisedMotoApp, serialised_moto_app

__all__ = [
    "CreatedResources",
    "EmulatorProcess",
    "EmulatorServer",
    "EmulatorStartError",
    "SerialisedMotoApp",
    "SnapshotError",
    "TemplateError",
    "bucket_names",
    "client",
    "create_resources",
    "environment",
    "load_template",
    "serialised_moto_app",
    "session_kwargs",
    "table_definitions",
    "topic_names",
]

_LAZY = {
    "EmulatorServer": "tollway_local.emulator.server",
    "SerialisedMotoApp": "tollway_local.emulator.wsgi",
    "serialised_moto_app": "tollway_local.emulator.wsgi",
    "SnapshotError": "tollway_local.emulator.restore",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
