"""maintenance.* — the orphan-hold sweep, and the run the EventBridge schedule makes (sweep + report
to the alerts topic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tollway.admin.commands._common import Usd, micros_of
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.maintenance import run_maintenance, sweep_holds
from tollway.operator import operator_stores


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


class Run(Args):
    publish: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: publish to the alerts topic only when there is news."
    )
    low_balance_usd: Usd | None = Field(default=None, description="Threshold (default: settings.low_balance_usd).")


@REGISTRY.command("maintenance.run", Run, summary="Sweep holds; report auto-disabled channels and low balances.")
def run(args: Run, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    threshold = micros_of(args.low_balance_usd or svc.settings.low_balance_usd)
    report = run_maintenance(
        svc, operator_stores(svc).alerts, now_ms=context.clock_ms(), threshold=threshold, publish=args.publish
    )
    return {"report": report.text(), **report.to_json()}  # the text first: what `tollway admin` shows
