"""audit.run — invariant 5: for every account, Σ entries (written or pending) − open holds = balance."""

from __future__ import annotations

from typing import Any

from tollway.admin.registry import REGISTRY, AdminContext, Args


class RunAudit(Args):
    account_id: str | None = None


@REGISTRY.command("audit.run", RunAudit, mutating=False, summary="Check that the ledger balances.")
def run_audit(args: RunAudit, context: AdminContext) -> dict[str, Any]:
    ledger = context.services.ledger
    ids = [args.account_id] if args.account_id else ledger.account_ids()
    # One pass over the holds table; an account whose figures a live request moved is read again.
    reports = ledger.audit_accounts(ids)
    differences = [r.to_json() for r in reports if not r.ok]
    return {
        "ok": not differences,
        "accounts": len(reports),
        "differences": differences,
        "reports": [r.to_json() for r in reports] if args.account_id else None,
    }
