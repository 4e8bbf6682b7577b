"""In-memory stores with the same contracts as the DynamoDB ones (unit tests, property tests)."""

from tollway.memory.accounts import MemoryAccounts
from tollway.memory.backend import MemoryBackend
from tollway.memory.ledger import MemoryLedger

__all__ = ["MemoryAccounts", "MemoryBackend", "MemoryLedger"]
