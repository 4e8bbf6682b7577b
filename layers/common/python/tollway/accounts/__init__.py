"""Accounts and their keys."""

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.accounts.ports import AccountStore

__all__ = ["Account", "AccountStatus", "AccountStore", "ApiKey", "KeyStatus"]
