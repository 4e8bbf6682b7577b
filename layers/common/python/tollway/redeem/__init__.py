"""Redemption codes: operators issue batches; customers redeem a code with their own key (POST /api/redeem).

A redemption is a ledger credit whose transaction also flips the code from unused to used with a
condition, so a code credits exactly once however many requests race for it.
"""

from tollway.redeem.model import Batch, Code, CodeStatus, RedeemRefused, Redemption
from tollway.redeem.ports import CodePage, CodeStore

__all__ = ["Batch", "Code", "CodePage", "CodeStatus", "CodeStore", "RedeemRefused", "Redemption"]
