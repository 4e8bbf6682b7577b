"""The moto backends the emulator snapshots, for one account and one region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.utilities.utils import get_partition

__all__ = ["Backends"]


@dataclass(frozen=True, slots=True)
class Backends:
    """Accessors for moto's in-process state (the server's state, when run inside the emulator)."""

    region: str
    account_id: str = DEFAULT_ACCOUNT_ID

    @property
    def dynamodb(self) -> Any:
        return get_backend("dynamodb")[self.account_id][self.region]

    @property
    def s3(self) -> Any:
        return get_backend("s3")[self.account_id][get_partition(self.region)]

    @property
    def secretsmanager(self) -> Any:
        return get_backend("secretsmanager")[self.account_id][self.region]

    @property
    def sns(self) -> Any:
        return get_backend("sns")[self.account_id][self.region]
