"""A thin DynamoDB client for the store calls on the relay's hot path (``store_client = "wire"``).

botocore spends ≈1.1–1.5 ms of CPU per call on work a handful of fixed operations do not need:
parameter models, event hooks, a generic serialiser and parser, a generic SigV4 signer, urllib3's
pool (docs/store-client.md has the figures). This module sends the same calls itself: DynamoDB's JSON
1.0 protocol (``X-Amz-Target: DynamoDB_20120810.<Op>``) over one kept-alive HTTP/1.1 connection per
thread, signed with SigV4, the body serialised and parsed with orjson. Called from synchronous code
that :func:`tollway.bridge.run_bridged` runs on the event loop, the same operations go over the
loop's own connections instead (:mod:`tollway.dynamo_loop`), and the boto3 client's operations are
sent to a worker thread: the caller's code stays synchronous and the loop never blocks.

It is a drop-in for the boto3 client where it answers: the same request keyword arguments and the
same response dicts (``Item``, ``Attributes``, ``ResponseMetadata``…), and on an error the very
``ClientError`` subclass boto3 raises, its ``response`` built by botocore's own parser (error
answers are rare; their exact shape matters more than their cost). Connection failures raise
botocore's ``EndpointConnectionError`` / ``ConnectionClosedError`` / ``ReadTimeoutError``. Every
other operation (paginators, scans, batch writes, ``exceptions``, ``meta``) is the boto3 client's.

What it does not do: botocore's retries. Throttling, 5xx and transaction conflicts surface as
``ClientError`` with DynamoDB's codes and ``tollway.dynamo.transact``/``retry_store`` retry them
(every store call goes through one of the two); only a kept-alive connection found closed is retried
here, once, on a fresh one. No client-side parameter validation (the boto3 client has it off too),
no proxies, and binary attribute values must be ``bytes`` (botocore also accepts ``str``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import socket
import ssl
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import orjson
from botocore.exceptions import (
    ChecksumError,
    ConnectionClosedError,
    NoCredentialsError,
    ReadTimeoutError,
)

from tollway.bridge import await_only, on_loop
from tollway.dynamo_endpoint import Answer, connect_failure, endpoint_parts, verified_context

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from mypy_boto3_dynamodb import DynamoDBClient

    from tollway.dynamo_loop import LoopConnection

__all__ = ["SigV4Signer", "WireClient", "WireConnection", "decode_blobs"]

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
SERVICE = "dynamodb"
_USER_AGENT = "tollway-dynamo-wire/1"


@dataclass(frozen=True, slots=True)
class Frozen:
    """One consistent set of credentials (botocore's ``ReadOnlyCredentials`` has the same fields)."""

    access_key: str
    secret_key: str
    token: str | None


class SigV4Signer:
    """AWS Signature Version 4 for a JSON-protocol POST, exactly as ``botocore.auth.SigV4Auth`` signs it.

    The signed headers are fixed (content-type, host, x-amz-date, the session token when there is one,
    x-amz-target), so the canonical request is one format string instead of botocore's generic walk;
    the derived signing key is kept for the day (it depends only on the secret, date and region).
    """

    def __init__(self, region: str, service: str = SERVICE, path: str = "/") -> None:
        self._region = region
        self._service = service
        self._path = path
        self._key: tuple[str, str, bytes] | None = None  # (secret, yyyymmdd, signing key)

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached = self._key
        if cached is not None and cached[0] == secret and cached[1] == day:
            return cached[2]
        key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
        for part in (self._region, self._service, "aws4_request"):
            key = hmac.digest(key, part.encode(), "sha256")
        self._key = (secret, day, key)  # one tuple: threads see the old or the new one, never half
        return key

    def headers(self, *, host: str, target: str, body: bytes, credentials: Frozen, amz_date: str) -> dict[str, str]:
        """The request's headers, ``Authorization`` included; ``amz_date`` is ``YYYYMMDDTHHMMSSZ`` (UTC)."""
        day = amz_date[:8]
        token = credentials.token
        if token:
            token_line = f"x-amz-security-token:{token}\n"
            signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        else:
            token_line = ""
            signed = "content-type;host;x-amz-date;x-amz-target"
        canonical = (
            f"POST\n{self._path}\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{amz_date}\n"
            f"{token_line}x-amz-target:{target}\n\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(credentials.secret_key, day), to_sign.encode(), "sha256").hexdigest()
        headers = {
            "Host": host,
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": target,
            "X-Amz-Date": amz_date,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
            "User-Agent": _USER_AGENT,
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers


def _encode_default(value: object) -> str:
    """orjson's fallback: binary attribute values travel base64-encoded (as botocore sends them)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def decode_blobs(value: Any) -> Any:
    """Binary attribute values (``{"B": "<base64>"}``, ``{"BS": [...]}``) decoded to bytes, in place.

    Only an attribute value is a one-key dict ``B`` → string or ``BS`` → list (an item's attribute
    named ``B`` maps to a dict), so the walk needs no shapes.
    """
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(blob := value.get("B"), str):
                value["B"] = base64.b64decode(blob)
                return value
            if isinstance(blobs := value.get("BS"), list) and all(isinstance(b, str) for b in blobs):
                value["BS"] = [base64.b64decode(b) for b in blobs]
                return value
        for inner in value.values():
            decode_blobs(inner)
    elif isinstance(value, list):
        for inner in value:
            decode_blobs(inner)
    return value


class _Stale(Exception):
    """A kept-alive connection turned out to be closed before any answer: send again on a fresh one."""


class WireConnection:
    """One kept-alive HTTP/1.1 connection per thread to one endpoint, reconnected after a failure."""

    def __init__(self, endpoint_url: str, *, connect_timeout: float, read_timeout: float) -> None:
        parts = endpoint_parts(endpoint_url)
        self.endpoint_url = endpoint_url
        self.host = parts.host
        self.path = parts.path
        self._hostname = parts.hostname
        self._port = parts.port
        self._https = parts.https
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ssl: ssl.SSLContext | None = None
        self._local = threading.local()
        # Every thread's connection, so close() (and garbage collection) can close them all.
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._open, self._lock)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = verified_context()
        return self._ssl

    def _connect(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._hostname, self._port, timeout=self._connect_timeout, context=self._ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except OSError as exc:  # a timeout, TLS or socket error
            conn.close()
            raise connect_failure(self.endpoint_url, exc) from exc
        sock: socket.socket = conn.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.settimeout(self._read_timeout)
        return conn

    def _drop(self) -> None:
        """Close this thread's connection (after a failure, or when the server asked to)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def close(self) -> None:
        """Close every thread's connection (a thread calling again later opens a new one)."""
        self._local = threading.local()
        _close_all(self._open, self._lock)

    def post(self, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes, int]:
        """Status, headers, body and the number of re-sends after a kept-alive connection was found closed."""
        for resend in range(2):
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._connect()
                with self._lock:
                    self._open.add(conn)
            try:
                status, response_headers, data, keep = self._exchange(conn, headers, body, reused=reused)
            except _Stale:
                self._drop()
                continue
            except BaseException:
                self._drop()
                raise
            if not keep:
                self._drop()
            return status, response_headers, data, resend
        raise ConnectionClosedError(endpoint_url=self.endpoint_url)  # pragma: no cover - the 2nd try is fresh

    def _exchange(
        self, conn: http.client.HTTPConnection, headers: dict[str, str], body: bytes, *, reused: bool
    ) -> Answer:
        try:
            conn.request("POST", self.path, body, headers)
            response = conn.getresponse()
            data = response.read()
        except TimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            # An idle kept-alive connection the server (or a NAT) closed: nothing was answered, and a
            # store write is safe to repeat (conditional, or carrying its idempotency token).
            if reused:
                raise _Stale from exc
            raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionClosedError(endpoint_url=self.endpoint_url, error=exc) from exc
        return response.status, response.getheaders(), data, not response.will_close


class WireClient:
    """The wire operations, and the boto3 client for everything else (``__getattr__``).

    Args:
        boto: the boto3 DynamoDB client this one stands in front of (its endpoint, region, exception
            classes and service model are used; it serves every other operation).
        credentials: the session's credentials (``boto3.Session().get_credentials()``); refreshable
            ones refresh themselves in ``get_frozen_credentials`` when near expiry.
    """

    def __init__(
        self,
        boto: DynamoDBClient,
        credentials: Credentials | None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._boto = boto
        self._credentials = credentials
        self._connection = WireConnection(
            boto.meta.endpoint_url, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._loop_connection: LoopConnection | None = None  # made on the first call from the loop
        self._signer = SigV4Signer(boto.meta.region_name, SERVICE, _canonical_path(self._connection.path))
        self._clock = clock
        self._parser: Any = None

    # ---- the operations served here (botocore's low-level shapes) ----

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        if "ClientRequestToken" not in kwargs:
            # botocore fills the idempotency token in the same way (the model marks it idempotencyToken).
            kwargs["ClientRequestToken"] = str(uuid.uuid4())
        return self._call("TransactWriteItems", kwargs)

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("GetItem", kwargs)

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("PutItem", kwargs)

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("UpdateItem", kwargs)

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("DeleteItem", kwargs)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("Query", kwargs)

    def close(self) -> None:
        self._connection.close()
        if self._loop_connection is not None:
            self._loop_connection.close()
        self._boto.close()

    async def aclose(self) -> None:
        """Close the running loop's idle connections (then :meth:`close` for the rest)."""
        if self._loop_connection is not None:
            await self._loop_connection.aclose()

    @property
    def loop_connection(self) -> LoopConnection:
        """The transport of calls made bridged on the event loop (:mod:`tollway.dynamo_loop`)."""
        if self._loop_connection is None:
            from tollway.dynamo_loop import LoopConnection

            self._loop_connection = LoopConnection(
                self._connection.endpoint_url, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout
            )
        return self._loop_connection

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_boto", "_connection"):  # half-built (copy, pickle): no recursion
            raise AttributeError(name)
        value = getattr(self._boto, name)
        if callable(value) and not isinstance(value, type):
            return _off_loop(value)
        return value

    # ---- the machinery ----

    def _frozen(self) -> Frozen:
        if self._credentials is None:
            raise NoCredentialsError()
        credentials = self._credentials
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if refresh_needed is not None and on_loop() and refresh_needed():
            # Refreshing may fetch (container or SSO credentials): never on the loop's thread.
            import anyio.to_thread

            frozen = await_only(anyio.to_thread.run_sync(credentials.get_frozen_credentials))
        else:
            frozen = credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise NoCredentialsError()
        return Frozen(frozen.access_key, frozen.secret_key, frozen.token)

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps(params, default=_encode_default)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        headers = self._signer.headers(
            host=self._connection.host,
            target=TARGET_PREFIX + operation,
            body=body,
            credentials=self._frozen(),
            amz_date=amz_date,
        )
        if on_loop():
            # Bridged on the event loop (tollway.bridge): the loop's own connections, no thread.
            status, response_headers, data, resends = await_only(self.loop_connection.post(headers, body))
        else:
            status, response_headers, data, resends = self._connection.post(headers, body)
        if status >= 300:
            raise self._error(operation, status, response_headers, data, resends)
        lowered = {name.lower(): value for name, value in response_headers}
        expected_crc = lowered.get("x-amz-crc32")
        if expected_crc is not None and int(expected_crc) != (actual_crc := zlib.crc32(data)):
            # DynamoDB's own check of the body (a few µs); a BotoCoreError, so the caller's loop retries.
            raise ChecksumError(checksum_type="crc32", expected_checksum=expected_crc, actual_checksum=str(actual_crc))
        parsed: dict[str, Any] = orjson.loads(data) if data else {}
        if b'"B":' in data or b'"BS":' in data:
            decode_blobs(parsed)
        metadata: dict[str, Any] = {}
        if "x-amzn-requestid" in lowered:
            metadata["RequestId"] = lowered["x-amzn-requestid"]
        metadata["HTTPStatusCode"] = status
        metadata["HTTPHeaders"] = lowered
        metadata["RetryAttempts"] = resends
        parsed["ResponseMetadata"] = metadata
        return parsed

    def _error(
        self, operation: str, status: int, headers: list[tuple[str, str]], data: bytes, resends: int
    ) -> Exception:
        """The exception boto3 raises for this answer, its ``response`` parsed by botocore itself."""
        if self._parser is None:
            from botocore.parsers import create_parser

            self._parser = create_parser("json")
        service_model = self._boto.meta.service_model
        operation_model = service_model.operation_model(operation)
        response = {
            "status_code": status,
            "headers": {name.lower(): value for name, value in headers},
            "body": data,
            "context": {"operation_name": operation},
        }
        parsed: dict[str, Any] = self._parser.parse(response, operation_model.output_shape)
        code = parsed.get("Error", {}).get("Code")
        if code is not None:
            # What botocore's endpoint adds: the error's modeled members (CancellationReasons, Item).
            error_shape = service_model.shape_for_error_code(code)
            if error_shape is not None:
                parsed.update(self._parser.parse(response, error_shape))
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = resends
        error_class: Any = self._boto.exceptions.from_code(code)  # a ClientError subclass (botocore's own)
        return cast(Exception, error_class(parsed, operation))


def _off_loop(method: Callable[..., Any]) -> Callable[..., Any]:
    """A boto3 client method that, called bridged on the event loop, runs in a worker thread instead.

    The boto3 client blocks for the length of its call; on the loop's thread that would stall every
    stream. Called anywhere else (a worker thread, a synchronous Lambda) it is called directly.
    """

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if on_loop():
            import anyio.to_thread

            return await_only(anyio.to_thread.run_sync(functools.partial(method, *args, **kwargs)))
        return method(*args, **kwargs)

    return call


def _close_all(connections: set[http.client.HTTPConnection], lock: threading.Lock) -> None:
    with lock:
        closing = list(connections)
        connections.clear()
    for conn in closing:
        conn.close()


def _canonical_path(path: str) -> str:
    from botocore.utils import normalize_url_path

    return quote(normalize_url_path(path), safe="/~")
