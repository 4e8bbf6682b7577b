"""The Midjourney stores built on the deployment's clients (DynamoDB, Secrets Manager, S3) or on the
in-memory backend. ``tollway.services`` builds them here, so the services never import the runtime
that is built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway.mj.memory import MemoryTasks
from tollway.mj.stores import (
    DynamoKeySettings,
    DynamoOptions,
    MemoryImages,
    MemoryKeySettings,
    MemoryOptions,
    MemoryVault,
    MjStores,
    S3Images,
    SecretsManagerVault,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from tollway.ledger.dynamodb import DynamoLedger
    from tollway.memory.backend import MemoryBackend
    from tollway.settings import Settings
    from tollway.tables import Tables

__all__ = ["aws_mj_stores", "memory_mj_stores"]


def aws_mj_stores(
    settings: Settings, client: DynamoDBClient, tables: Tables, ledger: DynamoLedger, sm: SecretsManagerClient
) -> MjStores:
    """The MJ stores on DynamoDB, Secrets Manager and S3 (the emulator when an endpoint is set)."""
    from tollway.mj.dynamodb import DynamoTasks

    images = None
    if settings.mj_image_bucket:
        import boto3

        from tollway.dynamo import boto_config

        s3 = boto3.session.Session().client(
            "s3", endpoint_url=settings.aws_endpoint_url, config=boto_config(settings, pool=10)
        )
        images = S3Images(s3, settings.mj_image_bucket)
    return MjStores(
        tasks=DynamoTasks(client, settings.tasks_table, tables, ledger, ttl_days=settings.mj_task_ttl_days),
        options=DynamoOptions(client, tables.config),
        vault=SecretsManagerVault(sm),
        images=images,
        key_settings=DynamoKeySettings(client, tables.keys),
    )


def memory_mj_stores(backend: MemoryBackend) -> MjStores:
    return MjStores(
        tasks=MemoryTasks(backend),
        options=MemoryOptions(backend),
        vault=MemoryVault(backend),
        images=MemoryImages(),
        key_settings=MemoryKeySettings(backend),
    )
