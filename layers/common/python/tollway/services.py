"""The collaborators every function needs, built from settings — lazily, so nothing touches the network
or the credential chain at import or init time (SnapStart snapshots stay free of clients)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tollway.accounts.ports import AccountStore
from tollway.auth import KeyCache
from tollway.billing import Biller
from tollway.config.catalog import CatalogCache
from tollway.config.ports import ConfigStore, SecretStore
from tollway.ledger.ports import LedgerStore
from tollway.pricing.schema import PriceFile, load_price_file, shipped_prices
from tollway.secrets_cache import ChannelSecrets
from tollway.settings import Settings
from tollway.stored_responses import DynamoResponseStore, MemoryResponseStore, ResponseStore
from tollway.usage.query import UsageReader

if TYPE_CHECKING:
    from tollway.memory.backend import MemoryBackend
    from tollway.mj.stores import MjStores

__all__ = ["LazyServices", "Services", "effective_prices", "now_ms"]


def effective_prices(settings: Settings) -> PriceFile:
    """The shipped price file, overlaid with ``settings.price_file`` when one is configured."""
    shipped = shipped_prices()
    if settings.price_file is None:
        return shipped
    extra = load_price_file(settings.price_file)
    return shipped.model_copy(update={"models": {**shipped.models, **extra.models}})


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Services:
    settings: Settings
    ledger: LedgerStore
    accounts: AccountStore
    config: ConfigStore
    secrets: SecretStore
    catalog: CatalogCache
    keys: KeyCache
    channel_secrets: ChannelSecrets
    biller: Biller
    usage: UsageReader
    clock_ms: Callable[[], int] = now_ms
    responses: ResponseStore = field(default_factory=MemoryResponseStore)  # stored Responses answers → channel
    mj: MjStores | None = None  # the Midjourney relay's tasks, options, signing secret, image copies

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        ledger: LedgerStore,
        accounts: AccountStore,
        config: ConfigStore,
        secrets: SecretStore,
        usage: UsageReader,
        prices: PriceFile | None = None,
        clock_ms: Callable[[], int] = now_ms,
        responses: ResponseStore | None = None,
    ) -> Services:
        return cls(
            settings=settings,
            ledger=ledger,
            accounts=accounts,
            config=config,
            secrets=secrets,
            catalog=CatalogCache(config, prices or effective_prices(settings), settings.config_cache_ttl_s),
            keys=KeyCache(accounts, ttl_s=settings.key_cache_ttl_s, negative_ttl_s=settings.negative_key_cache_ttl_s),
            channel_secrets=ChannelSecrets(secrets, settings.secrets_prefix, ttl_s=settings.secret_cache_ttl_s),
            biller=Biller(ledger),
            usage=usage,
            clock_ms=clock_ms,
            responses=responses or MemoryResponseStore(),
        )

    @classmethod
    def on_aws(cls, settings: Settings, *, prices: PriceFile | None = None) -> Services:
        """DynamoDB + Secrets Manager (the emulator when ``aws_endpoint_url`` is set)."""
        import boto3

        from tollway.accounts.dynamodb import DynamoAccounts
        from tollway.config.dynamodb import DynamoConfig, SecretsManagerStore
        from tollway.dynamo import boto_config, make_client
        from tollway.ledger.dynamodb import DynamoLedger
        from tollway.tables import Tables
        from tollway.usage.dynamodb import DynamoUsage

        client = make_client(settings)
        tables = Tables.from_settings(settings)
        ledger = DynamoLedger(
            client, tables, usage_shards=settings.usage_day_shards, usage_ttl_days=settings.usage_ttl_days
        )
        sm = boto3.session.Session().client(
            "secretsmanager", endpoint_url=settings.aws_endpoint_url, config=boto_config(settings, pool=10)
        )
        services = cls.build(
            settings,
            ledger=ledger,
            accounts=DynamoAccounts(client, tables, ledger),
            config=DynamoConfig(client, tables.config),
            secrets=SecretsManagerStore(sm),
            usage=DynamoUsage(client, tables.usage, shards=settings.usage_day_shards, keys_table=tables.keys),
            responses=DynamoResponseStore(client, tables.usage),
            prices=prices,
        )
        from tollway.mj.wiring import aws_mj_stores

        services.mj = aws_mj_stores(settings, client, tables, ledger, sm)
        return services

    @classmethod
    def in_memory(cls, settings: Settings, backend: MemoryBackend, *, prices: PriceFile | None = None) -> Services:
        from tollway.config.memory import MemoryConfig, MemorySecrets
        from tollway.memory import MemoryAccounts, MemoryLedger
        from tollway.usage.memory import MemoryUsage

        services = cls.build(
            settings,
            ledger=MemoryLedger(backend),
            accounts=MemoryAccounts(backend),
            config=MemoryConfig(backend),
            secrets=MemorySecrets(backend),
            usage=MemoryUsage(backend),
            prices=prices,
        )
        from tollway.mj.wiring import memory_mj_stores

        services.mj = memory_mj_stores(backend)
        return services


class LazyServices:
    """Builds :class:`Services` on first use (in a worker thread, from the relay)."""

    def __init__(self, factory: Callable[[], Services]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: Services | None = None

    @property
    def ready(self) -> Services | None:
        return self._value

    def get(self) -> Services:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                    # boto3, pydantic and the services are long-lived: move them out of the collector's
                    # sight, so full collections stay short instead of pausing every stream for ~50 ms.
                    gc.collect()
                    gc.freeze()
        return self._value
