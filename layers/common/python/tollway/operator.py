"""The operator's collaborators beside :class:`tollway.services.Services`: redemption codes, the audit
trail, usage exports and alerts — built on first use from the same stores, so the local stack's
admin commands and relay share them exactly as they share the rest of ``Services``.

They hang off the ``Services`` object they were built from (one set per ``Services``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tollway.alerts import Alerts, MemoryAlerts, SnsAlerts
from tollway.exports import Exporter, MemoryExporter, S3Exporter
from tollway.redeem.ports import CodeStore
from tollway.services import Services
from tollway.trail import DynamoTrail, MemoryTrail, TrailStore

__all__ = ["OperatorStores", "operator_stores", "use_operator_stores"]

_ATTRIBUTE = "_tollway_operator_stores"
_lock = threading.Lock()


@dataclass
class OperatorStores:
    codes: CodeStore
    trail: TrailStore
    exports: Exporter
    alerts: Alerts


def use_operator_stores(services: Services, stores: OperatorStores) -> None:
    """Attach these stores to ``services`` (tests inject failing or recording ones)."""
    vars(services)[_ATTRIBUTE] = stores


def operator_stores(services: Services) -> OperatorStores:
    """The operator stores of ``services``, built from its config store on first use."""
    found = vars(services).get(_ATTRIBUTE)
    if isinstance(found, OperatorStores):
        return found
    with _lock:
        found = vars(services).get(_ATTRIBUTE)
        if not isinstance(found, OperatorStores):
            found = _build(services)
            use_operator_stores(services, found)
        return found


def _build(services: Services) -> OperatorStores:
    from tollway.config.dynamodb import DynamoConfig
    from tollway.config.memory import MemoryConfig
    from tollway.ledger.dynamodb import DynamoLedger

    config, ledger, settings = services.config, services.ledger, services.settings
    if isinstance(config, DynamoConfig) and isinstance(ledger, DynamoLedger):
        from tollway.redeem.dynamodb import DynamoCodes

        return OperatorStores(
            codes=DynamoCodes(config.client, ledger, codes_table=settings.codes_table, config_table=config.table),
            trail=DynamoTrail(config.client, config.table),
            exports=S3Exporter(settings),
            alerts=SnsAlerts(settings),
        )
    if isinstance(config, MemoryConfig):
        from tollway.redeem.memory import MemoryCodes

        return OperatorStores(
            codes=MemoryCodes(config.backend),
            trail=MemoryTrail(config.backend),
            exports=MemoryExporter(),
            alerts=MemoryAlerts(),
        )
    raise TypeError(f"no operator stores for {type(config).__name__}; attach them with use_operator_stores()")
