"""Helpers of the operator-command tests: build Services over a Stores bundle, run a command."""

from __future__ import annotations

from typing import Any

from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway.services import Services

from tests.support.factories import Stores


def services_of(stores: Stores) -> Services:
    return Services.build(
        stores.settings,
        ledger=stores.ledger,
        accounts=stores.accounts,
        config=stores.config,
        secrets=stores.secrets,
        usage=stores.usage,
    )


def run(context: AdminContext, command: str, /, **args: Any) -> Any:
    """Run a command that must succeed; returns its result."""
    envelope = load().dispatch(command, args, context)
    assert envelope["ok"], envelope
    return envelope["result"]


def fail(context: AdminContext, command: str, /, **args: Any) -> dict[str, Any]:
    """Run a command that must fail; returns its error."""
    envelope = load().dispatch(command, args, context)
    assert not envelope["ok"], envelope
    error: dict[str, Any] = envelope["error"]
    return error
