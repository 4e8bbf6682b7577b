"""tollway.dynamo_wire against botocore: the same signature, the same request body, the same answers.

The signer is compared with ``botocore.auth.SigV4Auth`` for fixed inputs and time. For the rest a
scripted DynamoDB stand-in on loopback answers the wire client and a boto3 client (retries off) with
the same canned responses, and what each returns or raises is compared.
"""

from __future__ import annotations

import asyncio
import datetime
import http.server
import json
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
import uvloop
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ChecksumError, ClientError, EndpointConnectionError, SSLError
from botocore.paginate import Paginator
from tollway.bridge import run_bridged
from tollway.dynamo_wire import CONTENT_TYPE, Frozen, SigV4Signer, WireClient, decode_blobs

FIXED = datetime.datetime(2026, 12, 6, 7, 8, 9)
AMZ_DATE = "20261206T070809Z"


def _botocore_authorization(url: str, target: str, body: bytes, credentials: Credentials) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target, "User-Agent": "whatever/1"},
    )
    botocore.auth.SigV4Auth(credentials, "dynamodb", "eu-west-1").add_auth(request)
    return request


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////wEaDOdD+session/token=="])
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:4566", "127.0.0.1:4566"),
        ("https://dynamodb.eu-west-1.amazonaws.com:443/", "dynamodb.eu-west-1.amazonaws.com"),
    ],
)
def test_signature_is_botocores(monkeypatch: pytest.MonkeyPatch, url: str, host: str, token: str | None) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FIXED)
    body = b'{"TableName":"AccountsTable","Key":{"account_id":{"S":"a-1"}},"ConsistentRead":true}'
    target = "DynamoDB_20120810.GetItem"
    expected = _botocore_authorization(url, target, body, Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token))

    signer = SigV4Signer("eu-west-1")
    headers = signer.headers(
        host=host,
        target=target,
        body=body,
        credentials=Frozen("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token),
        amz_date=AMZ_DATE,
    )

    assert headers["Authorization"] == expected.headers["Authorization"]
    assert headers["X-Amz-Date"] == expected.headers["X-Amz-Date"]
    assert headers.get("X-Amz-Security-Token") == expected.headers.get("X-Amz-Security-Token")
    assert ("x-amz-security-token" in headers["Authorization"]) is (token is not None)
    # The cached signing key is the day's: a second signature that day is still botocore's.
    again = signer.headers(
        host=host,
        target=target,
        body=body,
        credentials=Frozen("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token),
        amz_date=AMZ_DATE,
    )
    assert again["Authorization"] == expected.headers["Authorization"]


def test_a_new_day_or_secret_derives_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = SigV4Signer("eu-west-1")
    creds = Frozen("AKID", "secret-1", None)
    first = signer.headers(host="h", target="t", body=b"{}", credentials=creds, amz_date=AMZ_DATE)["Authorization"]
    for when, secret in [(datetime.datetime(2026, 12, 7, 0, 0, 1), "secret-1"), (FIXED, "secret-2")]:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda when=when: when)
        expected = _botocore_authorization("https://h", "t", b"{}", Credentials("AKID", secret))
        got = signer.headers(
            host="h",
            target="t",
            body=b"{}",
            credentials=Frozen("AKID", secret, None),
            amz_date=when.strftime("%Y%m%dT%H%M%SZ"),
        )
        assert got["Authorization"] == expected.headers["Authorization"] != first


def test_blobs_are_decoded_and_nothing_else() -> None:
    parsed = {
        "Item": {
            "B": {"M": {"B": {"B": "AAEC"}, "S": {"S": "AAEC"}}},
            "set": {"BS": ["AA==", "AQ=="]},
            "list": {"L": [{"B": "/w=="}, {"N": "1"}]},
            "BS": {"SS": ["AA=="]},
        }
    }
    assert decode_blobs(parsed) == {
        "Item": {
            "B": {"M": {"B": {"B": b"\x00\x01\x02"}, "S": {"S": "AAEC"}}},
            "set": {"BS": [b"\x00", b"\x01"]},
            "list": {"L": [{"B": b"\xff"}, {"N": "1"}]},
            "BS": {"SS": ["AA=="]},
        }
    }


# ---- a scripted DynamoDB on loopback ----


class Scripted(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.repeat: tuple[int, dict[str, Any]] | None = None
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.close_after_answer = False
        self.drop_silently = False
        self.crc: int | None = None  # added to the real CRC32 sent in x-amz-crc32 (None: no header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, status: int, body: dict[str, Any]) -> None:
        """Every request is answered with this until changed (boto3 and wire each get the same)."""
        self.repeat = (status, body)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status, answer = self.server.repeat or (200, {})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("x-amzn-RequestId", "REQ1")
        self.send_header("Content-Length", str(len(data)))
        if self.server.crc is not None:
            self.send_header("x-amz-crc32", str(zlib.crc32(data) + self.server.crc))
        if self.server.close_after_answer:
            self.close_connection = True
        # Read before answering: the client may change the flag as soon as it has the answer.
        drop = self.server.drop_silently
        self.end_headers()
        self.wfile.write(data)
        if drop:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def _boto(url: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id="AKID", aws_secret_access_key="secret", aws_session_token="tok", region_name="us-east-1"
    ).client(
        "dynamodb",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )


@pytest.fixture
def pair(server: Scripted) -> Iterator[tuple[Any, WireClient]]:
    """A boto3 client and a wire client, both against the scripted server (closed afterwards)."""
    boto = _boto(server.url)
    wire = WireClient(_boto(server.url), Credentials("AKID", "secret", "tok"))
    yield boto, wire
    boto.close()
    wire.close()


def _outcome(call: Any) -> dict[str, Any]:
    try:
        response = dict(call())
        kind = "ok"
    except ClientError as exc:
        response = dict(exc.response)
        kind = type(exc).__name__
    metadata = dict(response.pop("ResponseMetadata"))
    headers = metadata.pop("HTTPHeaders")
    # Set by botocore's retry handler when its (here: one) attempt is used up, even on success.
    metadata.pop("MaxAttemptsReached", None)
    return {"kind": kind, "response": response, "metadata": metadata, "request_id": headers["x-amzn-requestid"]}


CANCELLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
    "[ConditionalCheckFailed, None]",
    "CancellationReasons": [
        {
            "Code": "ConditionalCheckFailed",
            "Message": "The conditional request failed",
            "Item": {"account_id": {"S": "a-1"}, "balance": {"N": "5"}, "blob": {"B": "AAE="}},
        },
        {"Code": "None"},
    ],
}
CONDITION = {
    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
    "message": "The conditional request failed",
    "Item": {"k": {"S": "x"}, "n": {"N": "3"}},
}
ITEMS = [
    {
        "Update": {
            "TableName": "AccountsTable",
            "Key": {"account_id": {"S": "a-1"}},
            "UpdateExpression": "SET balance = balance - :a",
            "ConditionExpression": "balance >= :a",
            "ExpressionAttributeValues": {":a": {"N": "10"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    },
    {"Put": {"TableName": "HoldsTable", "Item": {"hold_id": {"S": "h-1"}, "raw": {"B": b"\x00\x01"}}}},
]


@pytest.mark.parametrize(
    ("status", "answer", "operation", "kwargs"),
    [
        (200, {}, "transact_write_items", {"TransactItems": ITEMS, "ClientRequestToken": "tok-1"}),
        (400, CANCELLED, "transact_write_items", {"TransactItems": ITEMS, "ClientRequestToken": "tok-1"}),
        (
            200,
            {"Item": {"k": {"S": "x"}, "b": {"B": "AAE="}, "bs": {"BS": ["AA=="]}, "m": {"M": {"f": {"N": "1.5"}}}}},
            "get_item",
            {"TableName": "T", "Key": {"k": {"S": "x"}}, "ConsistentRead": True},
        ),
        (200, {}, "get_item", {"TableName": "T", "Key": {"k": {"S": "missing"}}}),
        (
            400,
            CONDITION,
            "put_item",
            {
                "TableName": "T",
                "Item": {"k": {"S": "x"}},
                "ConditionExpression": "attribute_not_exists(k)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            200,
            {"Attributes": {"n": {"N": "4"}}, "ConsumedCapacity": {"TableName": "T", "CapacityUnits": 1.0}},
            "update_item",
            {
                "TableName": "T",
                "Key": {"k": {"S": "x"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        (400, CONDITION, "delete_item", {"TableName": "T", "Key": {"k": {"S": "x"}}, "ConditionExpression": "n = :n"}),
        (
            400,
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"},
            "transact_write_items",
            {"TransactItems": ITEMS, "ClientRequestToken": "tok-1"},
        ),
        (
            400,
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "slow down",
            },
            "update_item",
            {"TableName": "T", "Key": {"k": {"S": "x"}}},
        ),
        (
            500,
            {"__type": "com.amazon.coral.availability#InternalServerError", "message": "oops"},
            "get_item",
            {"TableName": "T", "Key": {"k": {"S": "x"}}},
        ),
        (
            503,
            {"__type": "com.amazon.coral.availability#ServiceUnavailable"},
            "put_item",
            {"TableName": "T", "Item": {"k": {"S": "x"}}},
        ),
        (
            200,
            {"Items": [{"k": {"S": "a"}}], "Count": 1, "ScannedCount": 1, "LastEvaluatedKey": {"k": {"S": "a"}}},
            "query",
            {"TableName": "T", "KeyConditionExpression": "k = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}},
        ),
    ],
)
@pytest.mark.parametrize("via", ["thread", "loop"])
def test_wire_answers_and_sends_as_boto3(
    server: Scripted,
    pair: tuple[Any, WireClient],
    status: int,
    answer: dict[str, Any],
    operation: str,
    kwargs: dict[str, Any],
    via: str,
) -> None:
    """Blocking (http.client) or bridged on the loop (tollway.dynamo_loop): boto3's answers either way."""
    boto, wire = pair
    server.answer(status, answer)

    expected = _outcome(lambda: getattr(boto, operation)(**kwargs))
    if via == "thread":
        got = _outcome(lambda: getattr(wire, operation)(**kwargs))
    else:
        got = _bridged(wire, lambda: _outcome(lambda: getattr(wire, operation)(**kwargs)))
        assert wire.loop_connection.connects == 1

    assert got == expected
    assert got["kind"] != "ok" or status == 200
    (boto_headers, boto_body), (wire_headers, wire_body) = server.seen
    assert json.loads(wire_body) == json.loads(boto_body)  # blobs base64-encoded, nothing added or lost
    for name in ("x-amz-target", "content-type", "x-amz-security-token", "host"):
        assert wire_headers[name] == boto_headers[name]
    # The same credential scope (the signature itself is checked against botocore's signer above).
    assert wire_headers["authorization"].split(",")[0] == boto_headers["authorization"].split(",")[0]


def _bridged(wire: WireClient, fn: Callable[[], Any]) -> Any:
    """``fn()`` run bridged on a uvloop, as the relay runs the ledger; the loop's connections closed after."""

    async def main() -> Any:
        try:
            return await run_bridged(fn)
        finally:
            await wire.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def test_on_the_loop_other_operations_run_in_a_worker_thread(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    """boto3's own operations block: bridged on the loop they are sent to a worker thread instead."""
    _, wire = pair
    server.answer(200, {"Responses": {}, "UnprocessedKeys": {}})
    threads: list[int] = []
    original = wire._boto.batch_get_item

    def recording(**kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(**kwargs)

    wire._boto.batch_get_item = recording  # type: ignore[method-assign]
    loop_thread = _bridged(wire, threading.get_ident)
    answer = _bridged(wire, lambda: wire.batch_get_item(RequestItems={"T": {"Keys": [{"k": {"S": "x"}}]}}))
    assert answer["Responses"] == {}
    assert threads and threads[0] != loop_thread
    wire.batch_get_item(RequestItems={"T": {"Keys": [{"k": {"S": "x"}}]}})  # off the loop: called directly
    assert threads[1] == threading.get_ident()
    assert _bridged(wire, lambda: wire.meta.region_name) == "us-east-1"  # not a call: as it is


def test_on_the_loop_credentials_are_refreshed_in_a_worker_thread(server: Scripted) -> None:
    now = datetime.datetime.now(datetime.UTC)
    refreshed_in: list[int] = []

    def refresh() -> dict[str, str]:
        refreshed_in.append(threading.get_ident())
        return {
            "access_key": "AKID",
            "secret_key": "secret",
            "token": "new",
            "expiry_time": (now + datetime.timedelta(hours=1)).isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        {"access_key": "AKID", "secret_key": "s", "token": "old", "expiry_time": now.isoformat()}, refresh, "test"
    )
    wire = WireClient(_boto(server.url), credentials)
    server.answer(200, {})

    def two_calls() -> int:
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})  # fresh now: no thread
        return threading.get_ident()

    loop_thread = _bridged(wire, two_calls)
    assert len(refreshed_in) == 1 and refreshed_in[0] != loop_thread
    assert [headers["x-amz-security-token"] for headers, _ in server.seen] == ["new", "new"]
    wire.close()


def test_modeled_exception_classes_are_boto3s(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    boto, wire = pair
    server.answer(400, CONDITION)
    with pytest.raises(wire.exceptions.ConditionalCheckFailedException) as failed:
        wire.put_item(TableName="T", Item={"k": {"S": "x"}})
    assert failed.value.response["Error"] == {
        "Message": "The conditional request failed",
        "Code": "ConditionalCheckFailedException",
    }
    assert failed.value.response["Item"] == {"k": {"S": "x"}, "n": {"N": "3"}}
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert isinstance(failed.value, ClientError) and not isinstance(
        failed.value, boto.exceptions.TransactionCanceledException
    )


def test_a_missing_idempotency_token_is_filled_in_like_botocore(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    _, wire = pair
    server.answer(200, {})
    wire.transact_write_items(TransactItems=ITEMS)
    token = json.loads(server.seen[0][1])["ClientRequestToken"]
    assert len(token) == 36 and token.count("-") == 4


def test_other_operations_are_boto3s(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    _, wire = pair
    server.answer(200, {"Responses": {}, "UnprocessedKeys": {}})
    assert wire.batch_get_item(RequestItems={"T": {"Keys": [{"k": {"S": "x"}}]}})["Responses"] == {}
    assert server.seen[0][0]["x-amz-target"] == "DynamoDB_20120810.BatchGetItem"
    assert "botocore" in server.seen[0][0]["user-agent"].lower() or "boto3" in server.seen[0][0]["user-agent"].lower()
    assert isinstance(wire.get_paginator("query"), Paginator)
    assert wire.meta.region_name == "us-east-1"


def test_one_connection_is_kept_and_a_closed_one_replaced(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    _, wire = pair
    server.answer(200, {})
    ports: list[int] = []
    original = socket.socket.connect

    def counting(sock: socket.socket, address: Any) -> None:
        ports.append(1)
        original(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", counting)
        for _ in range(3):
            wire.get_item(TableName="T", Key={"k": {"S": "x"}})
        assert len(ports) == 1
        server.close_after_answer = True  # the server closes after answering: the next call reconnects
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})
        server.close_after_answer = False
        response = wire.get_item(TableName="T", Key={"k": {"S": "x"}})
        assert len(ports) == 2  # the answer said "Connection: close": one new connection after it
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_an_idle_connection_closed_by_the_server_is_sent_again(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    _, wire = pair
    server.answer(200, {"Item": {"k": {"S": "x"}}})
    server.drop_silently = True  # the server closes after answering, without saying so (an idle timeout)
    wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    server.drop_silently = False
    response = wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    assert response["Item"] == {"k": {"S": "x"}}
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(server.seen) == 2  # the lost attempt never reached the server


def test_an_unreachable_store_raises_botocores_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wire = WireClient(_boto(f"http://127.0.0.1:{port}"), Credentials("AKID", "secret"))
    with pytest.raises(EndpointConnectionError) as failed:
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    assert isinstance(failed.value, BotoCoreError)
    wire.close()


def test_refreshable_credentials_are_refreshed_near_expiry(server: Scripted) -> None:
    now = datetime.datetime.now(datetime.UTC)
    issued: list[str] = []

    def refresh() -> dict[str, str]:
        issued.append(f"tok-{len(issued)}")
        return {
            "access_key": "AKID",
            "secret_key": "secret",
            "token": issued[-1],
            "expiry_time": (now + datetime.timedelta(hours=1)).isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        {
            "access_key": "AKID",
            "secret_key": "secret",
            "token": "old",
            "expiry_time": (now + datetime.timedelta(seconds=30)).isoformat(),  # inside the mandatory window
        },
        refresh,
        "test",
    )
    wire = WireClient(_boto(server.url), credentials)
    server.answer(200, {})
    wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    assert issued == ["tok-0"]
    assert [headers["x-amz-security-token"] for headers, _ in server.seen] == ["tok-0", "tok-0"]
    wire.close()


def test_no_credentials_is_botocores_error() -> None:
    from botocore.exceptions import NoCredentialsError

    wire = WireClient(_boto("http://127.0.0.1:9"), None)
    with pytest.raises(NoCredentialsError):
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})
    wire.close()


def test_the_setting_chooses_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from tollway.dynamo import make_client
    from tollway.settings import Settings

    monkeypatch.setenv("TOLLWAY_STORE_CLIENT", "wire")
    wire = make_client(Settings(aws_endpoint_url="http://127.0.0.1:9"))
    assert isinstance(wire, WireClient)
    assert wire.meta.endpoint_url == "http://127.0.0.1:9"  # the boto3 client behind it: same endpoint
    wire.close()
    monkeypatch.setenv("TOLLWAY_STORE_CLIENT", "boto3")
    boto = make_client(Settings(aws_endpoint_url="http://127.0.0.1:9"))
    assert not isinstance(boto, WireClient)
    boto.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the certificate is its own CA bundle)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_verifies_against_the_ca_bundle(
    server: Scripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = server.url.replace("http://", "https://")
    server.answer(200, {"Item": {"k": {"S": "x"}}})

    untrusted = WireClient(_boto(url), Credentials("AKID", "secret"))
    with pytest.raises(SSLError):  # certifi's roots do not know this certificate (botocore's error)
        untrusted.get_item(TableName="T", Key={"k": {"S": "x"}})
    untrusted.close()

    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    trusted = WireClient(_boto(url), Credentials("AKID", "secret"))
    assert trusted.get_item(TableName="T", Key={"k": {"S": "x"}})["Item"] == {"k": {"S": "x"}}
    assert server.seen[-1][0]["host"] == f"127.0.0.1:{server.server_address[1]}"
    trusted.close()


def test_the_body_checksum_is_checked(server: Scripted, pair: tuple[Any, WireClient]) -> None:
    _, wire = pair
    server.answer(200, {"Item": {"k": {"S": "x"}}})
    server.crc = 0
    assert wire.get_item(TableName="T", Key={"k": {"S": "x"}})["Item"] == {"k": {"S": "x"}}
    server.crc = 1  # a body that does not match DynamoDB's checksum: a BotoCoreError, which is retried
    with pytest.raises(ChecksumError):
        wire.get_item(TableName="T", Key={"k": {"S": "x"}})


def test_each_thread_has_its_connection_and_close_closes_them_all(
    server: Scripted, pair: tuple[Any, WireClient]
) -> None:
    _, wire = pair
    server.answer(200, {})
    threads = [threading.Thread(target=lambda: wire.get_item(TableName="T", Key={"k": {"S": "x"}})) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    opened = set(wire._connection._open)
    assert len(opened) == 3
    wire.close()
    assert all(conn.sock is None for conn in opened)
    assert wire.get_item(TableName="T", Key={"k": {"S": "x"}})["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_in_process_moto_gets_the_chosen_client(moto: Any) -> None:
    """tests/conftest.py: boto3 by default, the wire client (over loopback) with TOLLWAY_STORE_CLIENT=wire."""
    import os

    client = moto.client
    assert isinstance(client, WireClient) is (os.environ.get("TOLLWAY_STORE_CLIENT") == "wire")
    client.put_item(TableName="ConfigTable", Item={"pk": {"S": "p"}, "sk": {"S": "s"}, "v": {"B": b"\x01"}})
    item = client.get_item(TableName="ConfigTable", Key={"pk": {"S": "p"}, "sk": {"S": "s"}}, ConsistentRead=True)
    assert item["Item"]["v"] == {"B": b"\x01"}
