"""Test helpers: store bundles over memory or moto, and account/key factories."""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.accounts.ports import AccountStore
from tollway.config.ports import ConfigStore, SecretStore
from tollway.ids import account_id, key_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.ledger.ports import LedgerStore
from tollway.memory.backend import MemoryBackend
from tollway.mj.model import Mode, Phase, Task
from tollway.settings import Settings
from tollway.usage.query import UsageReader

_counter = itertools.count()


@dataclass
class Stores:
    name: str
    ledger: LedgerStore
    accounts: AccountStore
    config: ConfigStore
    secrets: SecretStore
    settings: Settings
    usage: UsageReader
    client: object | None = None  # the boto3 DynamoDB client (dynamodb only)


def memory_stores(settings: Settings | None = None) -> Stores:
    from tollway.config.memory import MemoryConfig, MemorySecrets
    from tollway.memory import MemoryAccounts, MemoryLedger
    from tollway.usage.memory import MemoryUsage

    backend = MemoryBackend()
    return Stores(
        name="memory",
        ledger=MemoryLedger(backend),
        accounts=MemoryAccounts(backend),
        config=MemoryConfig(backend),
        secrets=MemorySecrets(backend),
        settings=settings or Settings(),
        usage=MemoryUsage(backend),
    )


@functools.cache
def template_tables(template: Path) -> dict[str, object]:
    """The template's DynamoDB tables as `create_resources` takes them; parsed once per process (every
    in-process moto test creates them, and template.yaml does not change during a run)."""
    from tollway_local.emulator.template import load_template

    return _only_tables(load_template(template))


@functools.cache
def _boto_session() -> Any:
    """One boto3 session for every in-process moto bundle: a new session re-reads botocore's service
    models from disk (most of a bundle's set-up), while clients made from one session share them."""
    import boto3

    return boto3.session.Session()


@contextlib.contextmanager
def shared_boto_session() -> Iterator[None]:
    """While open, ``boto3.session.Session()`` answers the shared session: code that builds each client
    from a session of its own (``Services.on_aws``, once per Lambda cold start) then reuses the service
    models and endpoint data botocore has already read, instead of reading them again for every test."""
    from unittest import mock

    import boto3.session

    shared = _boto_session()

    def session(*args: object, **kwargs: object) -> Any:
        assert not args and not kwargs, "shared_boto_session covers Session() without arguments only"
        return shared

    with mock.patch.object(boto3.session, "Session", session):
        yield


@contextlib.contextmanager
def moto_stores(template: Path, settings: Settings | None = None) -> Iterator[Stores]:
    """In-process moto with the template's tables (sequential use only: moto is not thread-safe)."""
    from moto import mock_aws
    from tollway.accounts.dynamodb import DynamoAccounts
    from tollway.config.dynamodb import DynamoConfig, SecretsManagerStore
    from tollway.dynamo import boto_config
    from tollway.ledger.dynamodb import DynamoLedger
    from tollway.tables import Tables
    from tollway.usage.dynamodb import DynamoUsage
    from tollway_local.emulator.resources import create_resources

    settings = settings or Settings()
    with mock_aws():
        # tollway.dynamo.make_client's client (same endpoint and config), from the shared session.
        session = _boto_session()
        client = session.client("dynamodb", endpoint_url=settings.aws_endpoint_url, config=boto_config(settings))
        if wire_chosen() and settings.aws_endpoint_url is None:
            from tollway.dynamo_wire import WireClient

            served = session.client("dynamodb", endpoint_url=loopback_endpoint(), config=boto_config(settings))
            client = WireClient(served, session.get_credentials())  # type: ignore[assignment]
        create_resources({"dynamodb": client}, copy.deepcopy(template_tables(template)))
        tables = Tables.from_settings(settings)
        ledger = DynamoLedger(client, tables, usage_shards=settings.usage_day_shards)
        sm = session.client("secretsmanager", region_name=settings.region)
        yield Stores(
            name="dynamodb",
            ledger=ledger,
            accounts=DynamoAccounts(client, tables, ledger),
            config=DynamoConfig(client, tables.config),
            secrets=SecretsManagerStore(sm),
            settings=settings,
            usage=DynamoUsage(client, tables.usage, shards=settings.usage_day_shards, keys_table=tables.keys),
            client=client,
        )


_loopback: Any = None  # moto's threaded server, once per process, for TOLLWAY_STORE_CLIENT=wire


def wire_chosen() -> bool:
    """``TOLLWAY_STORE_CLIENT=wire``: the in-process moto's clients are tollway.dynamo_wire's."""
    return os.environ.get("TOLLWAY_STORE_CLIENT") == "wire"


def loopback_endpoint() -> str:
    """The in-process moto on a loopback port, for the wire client (which speaks HTTP).

    moto's threaded server shares the backends ``mock_aws`` uses (each test's ``mock_aws`` resets them),
    so a test's boto3 clients and wire clients see the same tables; calls stay sequential.
    """
    global _loopback
    if _loopback is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _loopback = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        _loopback.start()
    host, port = _loopback.get_host_and_port()
    return f"http://{host}:{port}"


def stop_loopback() -> None:
    global _loopback
    if _loopback is not None:
        _loopback.stop()
        _loopback = None


def _only_tables(template: dict[str, object]) -> dict[str, object]:
    resources = template.get("Resources", {})
    assert isinstance(resources, dict)
    return {"Resources": {k: v for k, v in resources.items() if v.get("Type") == "AWS::DynamoDB::Table"}}


def now_ms() -> int:
    return int(time.time() * 1000)


def make_account(
    stores: Stores, balance: int, *, group: str = "default", status: AccountStatus = AccountStatus.ACTIVE
) -> Account:
    """An account holding ``balance`` micro-USD, its credit's history written."""
    from tollway.ids import movement_id

    account = Account(
        account_id=account_id(),
        name=f"acct {next(_counter)}",
        group=group,
        status=status,
        balance=0,
        created_at=now_ms(),
    )
    movement = stores.accounts.create_account(
        account, initial_credit=balance, movement_id=movement_id(), reason="test", actor="test", now=now_ms()
    )
    if movement is not None:
        stores.ledger.write_history(movement)
        stores.ledger.close(movement.movement_id)
    return account


def make_key(
    stores: Stores,
    account: Account,
    *,
    remaining: int | None = None,
    status: KeyStatus = KeyStatus.ACTIVE,
    expires_at: int | None = None,
    models: tuple[str, ...] | None = None,
    cidrs: tuple[str, ...] | None = None,
) -> tuple[str, ApiKey]:
    secret = generate_key()
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=account.account_id,
        name="test key",
        prefix=display_prefix(secret),
        status=status,
        created_at=now_ms(),
        remaining=remaining,
        expires_at=expires_at,
        models=models,
        cidrs=cidrs,
    )
    stores.accounts.create_key(key)
    return secret, key


def accepted_task(**fields: Any) -> Task:
    """An accepted task as the task store would hold it, for pure tests (renderers, news): one account,
    key and channel; ``fields`` say what the test is about (the action, its price, the provider's kind…)."""
    defaults: dict[str, Any] = {
        "account_id": "acct_a",
        "key_id": "key_a",
        "key_hash": "h",
        "key_limited": False,
        "hold_id": "req_a",
        "channel_id": "ch",
        "mode": Mode.FAST,
        "created_at": 1_730_000_000_000,
        "phase": Phase.ACCEPTED,
    }
    return Task(**{**defaults, **fields})
