"""maintenance.* — the orphan-hold sweep (scheduled by EventBridge on AWS)."""

from __future__ import annotations

from typing import Any

from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.maintenance import sweep_holds


class Sweep(Args):
    pass


@REGISTRY.command("maintenance.sweep", Sweep, summary="Finish interrupted settlements; refund orphaned holds.")
def sweep(args: Sweep, context: AdminContext) -> dict[str, Any]:
    settings = context.services.settings
    report = sweep_holds(
        context.services.ledger,
        now_ms=context.clock_ms(),
        hold_timeout_s=settings.hold_timeout_s,
        settled_grace_s=settings.settled_grace_s,
    )
    return report.to_json()
