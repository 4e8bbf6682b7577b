"""tollway.dynamo_wire against the emulator over HTTP, side by side with boto3: the same answers, the
same errors (cancellation reasons and returned items included), the same fault codes, the token sent."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import httpx
import pytest
import uvloop
from botocore.config import Config
from botocore.exceptions import ClientError
from tollway.accounts.dynamodb import DynamoAccounts
from tollway.bridge import run_bridged
from tollway.dynamo import TransactionCancelled, transact
from tollway.dynamo_wire import WireClient
from tollway.ids import account_id, movement_id
from tollway.ledger.dynamodb import DynamoLedger
from tollway.settings import Settings
from tollway.tables import Tables
from tollway_local.emulator import EmulatorProcess

from bench.faultproxy import FaultProxy
from tests.support.factories import make_account, make_key, now_ms
from tests.unit.tollway.ledger.test_ledger_contract import hold_for, record_for

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path_factory.mktemp("wire"), TEMPLATE) as process:
        yield process


def _boto(endpoint: str) -> Any:
    """One attempt per call (botocore would retry a throttle; the wire client leaves that to tollway)."""
    return boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="tok", region_name="us-east-1"
    ).client(
        "dynamodb",
        endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )


class OnLoop:
    """The wire client with each call made from synchronous code bridged on a uvloop (tollway.bridge):
    its own loop transport (tollway.dynamo_loop) instead of http.client, the answers unchanged."""

    def __init__(self, wire: WireClient, runner: asyncio.Runner) -> None:
        self.wire = wire
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.wire, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(functools.partial(method, *args, **kwargs))

        return call

    def run(self, fn: Callable[[], Any]) -> Any:
        return self._runner.run(run_bridged(fn))


def _run(client: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(client, ...)``, as a whole bridged on the loop for an OnLoop client (retries pause there)."""
    if isinstance(client, OnLoop):
        return client.run(functools.partial(fn, client.wire, *args, **kwargs))
    return fn(client, *args, **kwargs)


@pytest.fixture(scope="module", params=["thread", "loop"])
def clients(emulator: EmulatorProcess, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """boto3 and the wire client, the latter blocking in this thread or bridged on an event loop."""
    boto = _boto(emulator.endpoint)
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="tok", region_name="us-east-1"
    )
    wire = WireClient(_boto(emulator.endpoint), session.get_credentials())
    if request.param == "thread":
        yield boto, wire
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            yield boto, OnLoop(wire, runner)
            assert wire.loop_connection.connects >= 1  # the loop transport served them
            runner.run(wire.aclose())
    boto.close()
    wire.close()


def _outcome(call: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """What a call gave: ("ok" or the exception class, the response without the per-request metadata)."""
    try:
        response = dict(call())
        kind = "ok"
    except ClientError as exc:
        response = dict(exc.response)
        kind = type(exc).__name__
    metadata = response.pop("ResponseMetadata")
    response["HTTPStatusCode"] = metadata["HTTPStatusCode"]
    return kind, response


def _both(clients: tuple[Any, WireClient], call: Callable[[Any], Any]) -> tuple[str, dict[str, Any]]:
    boto, wire = clients
    expected = _outcome(lambda: call(boto))
    got = _outcome(lambda: call(wire))
    assert got == expected
    return got


def _account(boto: Any, balance: int) -> str:
    account = f"acct-{uuid.uuid4()}"
    boto.put_item(
        TableName="AccountsTable",
        Item={"account_id": {"S": account}, "balance": {"N": str(balance)}, "name": {"S": "n"}},
    )
    return account


def _debit(account: str, amount: int, hold: str, *, raw: bytes | None = None) -> list[dict[str, Any]]:
    hold_item: dict[str, Any] = {"hold_id": {"S": hold}, "amount": {"N": str(amount)}}
    if raw is not None:  # a binary attribute (tollway.dynamo.idempotency_token has no use for one)
        hold_item["raw"] = {"B": raw}
    return [
        {
            "Update": {
                "TableName": "AccountsTable",
                "Key": {"account_id": {"S": account}},
                "UpdateExpression": "SET balance = balance - :a",
                "ConditionExpression": "balance >= :a",
                "ExpressionAttributeValues": {":a": {"N": str(amount)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            "Put": {
                "TableName": "HoldsTable",
                "Item": hold_item,
                "ConditionExpression": "attribute_not_exists(hold_id)",
            }
        },
    ]


def _balance(boto: Any, account: str) -> int:
    item = boto.get_item(TableName="AccountsTable", Key={"account_id": {"S": account}}, ConsistentRead=True)["Item"]
    return int(item["balance"]["N"])


def test_a_transaction_applies_alike(clients: tuple[Any, WireClient]) -> None:
    boto, wire = clients
    accounts = {name: _account(boto, 100) for name in ("boto", "wire")}
    holds = {name: f"hold-{uuid.uuid4()}" for name in accounts}
    expected = _outcome(
        lambda: boto.transact_write_items(
            TransactItems=_debit(accounts["boto"], 30, holds["boto"], raw=b"\x00\xff"),
            ClientRequestToken=str(uuid.uuid4()),
        )
    )
    got = _outcome(
        lambda: wire.transact_write_items(
            TransactItems=_debit(accounts["wire"], 30, holds["wire"], raw=b"\x00\xff"),
            ClientRequestToken=str(uuid.uuid4()),
        )
    )
    assert got == expected
    assert got[0] == "ok" and got[1]["HTTPStatusCode"] == 200
    assert [_balance(boto, accounts[name]) for name in accounts] == [70, 70]
    # The binary attribute travelled as bytes both ways and reads back alike.
    for name, hold in holds.items():
        read = _both(clients, lambda c, hold=hold: c.get_item(TableName="HoldsTable", Key={"hold_id": {"S": hold}}))
        assert read[1]["Item"]["raw"] == {"B": b"\x00\xff"}, name


def test_a_cancelled_transaction_carries_the_same_reasons_and_items(clients: tuple[Any, WireClient]) -> None:
    boto, _ = clients
    account = _account(boto, 5)
    hold = f"hold-{uuid.uuid4()}"
    kind, response = _both(
        clients, lambda c: c.transact_write_items(TransactItems=_debit(account, 15, hold), ClientRequestToken="t-1")
    )
    assert kind == "TransactionCanceledException"
    assert response["Error"]["Code"] == "TransactionCanceledException"
    reasons = response["CancellationReasons"]
    assert reasons[0]["Code"] == "ConditionalCheckFailed"
    assert reasons[0]["Item"]["balance"] == {"N": "5"}  # the clamp reads the balance from here
    assert reasons[1]["Code"] == "None"
    assert response["HTTPStatusCode"] == 400
    # tollway.dynamo.transact reads them the same from either client.
    for client in clients:
        with pytest.raises(TransactionCancelled) as cancelled:
            _run(client, transact, _debit(account, 15, hold), movement_id=f"mv-{uuid.uuid4()}")
        failed = cancelled.value.failed(0)
        assert failed is not None and failed["balance"] == {"N": "5"}


@pytest.mark.parametrize("return_old", [True, False])
def test_single_item_condition_failures_are_alike(clients: tuple[Any, WireClient], return_old: bool) -> None:
    boto, _ = clients
    account = _account(boto, 5)
    key = {"account_id": {"S": account}}
    extra = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if return_old else {}
    calls: list[Callable[[Any], Any]] = [
        lambda c: c.put_item(
            TableName="AccountsTable",
            Item={"account_id": {"S": account}, "balance": {"N": "1"}},
            ConditionExpression="attribute_not_exists(account_id)",
            **extra,
        ),
        lambda c: c.update_item(
            TableName="AccountsTable",
            Key=key,
            UpdateExpression="SET balance = balance - :a",
            ConditionExpression="balance >= :a",
            ExpressionAttributeValues={":a": {"N": "50"}},
            ReturnValues="ALL_NEW",
            **extra,
        ),
        lambda c: c.delete_item(
            TableName="AccountsTable",
            Key=key,
            ConditionExpression="balance = :z",
            ExpressionAttributeValues={":z": {"N": "0"}},
            **extra,
        ),
    ]
    for call in calls:
        kind, response = _both(clients, call)
        assert kind == "ConditionalCheckFailedException"
        assert response["Error"]["Code"] == "ConditionalCheckFailedException"
        if return_old:
            assert response["Item"]["balance"] == {"N": "5"}
        else:
            assert "Item" not in response
    assert _balance(boto, account) == 5


def test_successful_single_item_calls_and_reads_are_alike(clients: tuple[Any, WireClient]) -> None:
    boto, wire = clients
    accounts = [_account(boto, 10), _account(boto, 10)]  # one per client for the writes

    def each(call: Callable[[Any, dict[str, Any]], Any]) -> dict[str, Any]:
        outcomes = [
            _outcome(lambda c=c, a=a: call(c, {"account_id": {"S": a}})) for c, a in zip(clients, accounts, strict=True)
        ]
        # The same answer but for each client's own account id.
        assert repr(outcomes[0]).replace(accounts[0], "ACCOUNT") == repr(outcomes[1]).replace(accounts[1], "ACCOUNT")
        assert outcomes[1][0] == "ok"
        return outcomes[1][1]

    updated = each(
        lambda c, key: c.update_item(
            TableName="AccountsTable",
            Key=key,
            UpdateExpression="ADD balance :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
            ReturnConsumedCapacity="TOTAL",
        )
    )
    assert updated["Attributes"] == {"balance": {"N": "11"}}
    read = each(lambda c, key: c.get_item(TableName="AccountsTable", Key=key, ConsistentRead=True))
    assert read["Item"]["balance"] == {"N": "11"}
    replaced = each(
        lambda c, key: c.put_item(
            TableName="AccountsTable", Item={**key, "balance": {"N": "3"}}, ReturnValues="ALL_OLD"
        )
    )
    assert replaced["Attributes"]["balance"] == {"N": "11"}
    deleted = each(lambda c, key: c.delete_item(TableName="AccountsTable", Key=key, ReturnValues="ALL_OLD"))
    assert deleted["Attributes"]["balance"] == {"N": "3"}
    _, missing = _both(clients, lambda c: c.get_item(TableName="AccountsTable", Key={"account_id": {"S": accounts[0]}}))
    assert "Item" not in missing
    _both(
        clients,
        lambda c: c.query(
            TableName="AccountsTable",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": {"S": accounts[0]}},
        ),
    )


def _faults(emulator: EmulatorProcess, **plan: Any) -> None:
    httpx.post(f"{emulator.endpoint}/_emulator/faults", json=plan, timeout=10).raise_for_status()


@pytest.mark.parametrize(("kind", "code"), [("throttling", "ThrottlingException"), ("internal", "InternalServerError")])
def test_an_injected_fault_surfaces_as_the_same_error(
    emulator: EmulatorProcess, clients: tuple[Any, WireClient], kind: str, code: str
) -> None:
    boto, wire = clients
    account = _account(boto, 100)
    outcomes = []
    for client in clients:
        _faults(emulator, rate=1.0, kinds=[kind], operations=["TransactWriteItems"], limit=1)
        outcomes.append(
            _outcome(lambda c=client: c.transact_write_items(TransactItems=_debit(account, 1, f"hold-{uuid.uuid4()}")))
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == code and outcomes[1][1]["Error"]["Code"] == code
    # tollway.dynamo.transact retries it through the wire client like through boto3.
    _faults(emulator, rate=1.0, kinds=[kind], operations=["TransactWriteItems"], limit=1)
    _run(wire, transact, _debit(account, 1, f"hold-{uuid.uuid4()}"), movement_id=f"mv-{uuid.uuid4()}")
    assert _balance(boto, account) == 99
    _faults(emulator, rate=0.0)


def test_the_request_token_travels(emulator: EmulatorProcess) -> None:
    with FaultProxy(emulator.endpoint) as proxy:
        boto = _boto(proxy.endpoint)
        wire = WireClient(
            _boto(proxy.endpoint),
            boto3.session.Session(aws_access_key_id="l", aws_secret_access_key="l").get_credentials(),
        )
        account = _account(boto, 100)
        wire.transact_write_items(
            TransactItems=_debit(account, 1, f"hold-{uuid.uuid4()}"), ClientRequestToken="token-one"
        )
        transact(wire, _debit(account, 1, f"hold-{uuid.uuid4()}"), movement_id="movement-two")
        wire.transact_write_items(TransactItems=_debit(account, 1, f"hold-{uuid.uuid4()}"))  # botocore's default
        tokens = [seen.token for seen in proxy.seen if seen.operation == "TransactWriteItems"]
        boto.close()
        wire.close()
    assert tokens[0] == "token-one"
    assert tokens[1] is not None and len(tokens[1]) == 36  # tollway.dynamo.idempotency_token
    assert tokens[2] is not None and len(tokens[2]) == 36


@pytest.mark.parametrize("kind", ["lost", "throttling", "internal", "conflict"])
def test_the_ledger_bridged_on_the_loop_stays_exact_through_faults(emulator: EmulatorProcess, kind: str) -> None:
    """The ledger's synchronous code run bridged on a uvloop, as the relay runs it: every store call on
    the loop transport (none on http.client), the boto3-only BatchWriteItem sent to a worker thread,
    each credit's transaction faulted once — and every credit lands exactly once."""
    session = boto3.session.Session(aws_access_key_id="l", aws_secret_access_key="l", region_name="us-east-1")
    wire = WireClient(_boto(emulator.endpoint), session.get_credentials())
    ledger = DynamoLedger(wire, Tables.from_settings(Settings(aws_endpoint_url=emulator.endpoint)))  # type: ignore[arg-type]
    account = account_id()
    _boto(emulator.endpoint).put_item(
        TableName="AccountsTable",
        Item={"account_id": {"S": account}, "status": {"S": "active"}, "balance": {"N": "0"}},
    )

    def credit_and_finish(n: int) -> None:
        movement = ledger.credit(account, 100, movement_id=movement_id(), reason=f"c{n}", actor=None, now=n + 1)
        ledger.write_history(movement)  # BatchWriteItem: boto3's, in a worker thread
        ledger.close(movement.movement_id)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        faulted = 0
        for n in range(4):
            _faults(emulator, rate=1.0, kinds=[kind], operations=["TransactWriteItems"], limit=1)
            runner.run(run_bridged(credit_and_finish, n))
            faulted += emulator.stats()["faults"]["counts"].get(f"TransactWriteItems.{kind}", 0)
        _faults(emulator, rate=0)
        balance = runner.run(run_bridged(ledger.balance, account))
        runner.run(wire.aclose())
    assert balance == 400
    assert wire.loop_connection.connects >= 1
    assert not wire._connection._open  # the blocking transport was never used
    assert faulted == 4  # each credit met its fault
    wire.close()


def test_reserve_and_settle_bridged_on_the_loop_are_exact_through_faults(emulator: EmulatorProcess) -> None:
    """The relay's two money movements, bridged on a uvloop over the wire client, each transaction
    faulted once (a lost response, throttling, an internal error, a conflict): every hold is taken
    and settled once and closed, and the balance and the key's limit are exact."""
    session = boto3.session.Session(aws_access_key_id="l", aws_secret_access_key="l", region_name="us-east-1")
    wire = WireClient(_boto(emulator.endpoint), session.get_credentials())
    tables = Tables.from_settings(Settings(aws_endpoint_url=emulator.endpoint))
    ledger = DynamoLedger(wire, tables)  # type: ignore[arg-type]
    setup_boto = _boto(emulator.endpoint)  # the account and key, made and read outside the loop
    setup_ledger = DynamoLedger(setup_boto, tables)
    setup: Any = SimpleNamespace(ledger=setup_ledger, accounts=DynamoAccounts(setup_boto, tables, setup_ledger))
    account = make_account(setup, 10_000)
    _, key = make_key(setup, account, remaining=5_000)
    costs: list[int] = []
    holds: list[str] = []

    def reserve_then_settle(kind: str, cost: int) -> None:
        _faults(emulator, rate=1.0, kinds=[kind], operations=["TransactWriteItems"], limit=1)
        hold = ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 400, limited=True))
        holds.append(hold.hold_id)
        _faults(emulator, rate=1.0, kinds=[kind], operations=["TransactWriteItems"], limit=1)
        movement = ledger.settle(hold, cost, record_for(hold), now=now_ms())
        assert movement is not None
        ledger.write_history(movement)
        ledger.close(movement.movement_id)

    async def main() -> None:
        try:
            for number, kind in enumerate(["lost", "throttling", "internal", "conflict"]):
                costs.append(100 + number)
                await run_bridged(reserve_then_settle, kind, costs[-1])
        finally:
            _faults(emulator, rate=0)
            await wire.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert setup_ledger.balance(account.account_id) == 10_000 - sum(costs)
    stored_key = setup.accounts.get_key(key.key_hash)
    assert stored_key is not None and stored_key.remaining == 5_000 - sum(costs)
    for hold_id in holds:  # settled and closed: no hold left behind
        assert "Item" not in setup_boto.get_item(TableName="HoldsTable", Key={"hold_id": {"S": hold_id}})
    assert not wire._connection._open  # every call on the loop transport
    wire.close()
