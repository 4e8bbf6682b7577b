"""Table names, from settings (template logical ids locally, real names on AWS)."""

from __future__ import annotations

from dataclasses import dataclass

from tollway.settings import Settings

__all__ = ["Tables"]


@dataclass(frozen=True, slots=True)
class Tables:
    accounts: str
    keys: str
    holds: str
    ledger: str
    usage: str
    config: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Tables:
        return cls(
            accounts=settings.accounts_table,
            keys=settings.keys_table,
            holds=settings.holds_table,
            ledger=settings.ledger_table,
            usage=settings.usage_table,
            config=settings.config_table,
        )
