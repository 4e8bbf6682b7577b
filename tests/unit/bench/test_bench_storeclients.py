"""The store-client bench's helpers: reading the clamp's balance, and the fault proxy (loopback)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.faultproxy import FaultProxy, Seen
from bench.storeclients import failed_item_balance, overdraw_items, settle_items


def test_the_balance_comes_from_the_first_failed_condition() -> None:
    reasons = [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Item": {"balance": {"N": "5"}}},
        {"Code": "ConditionalCheckFailed", "Item": {"balance": {"N": "9"}}},
    ]
    assert failed_item_balance(reasons) == 5
    assert failed_item_balance([{"Code": "ConditionalCheckFailed"}]) is None  # a client that dropped the item
    assert failed_item_balance([{"Code": "None"}]) is None


def test_the_request_shapes_ask_for_the_old_item() -> None:
    assert overdraw_items("h")[0]["Update"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert [next(iter(item)) for item in settle_items(0, 0, "h2", "h1")] == ["Update", "Put", "Delete"]
    assert [next(iter(item)) for item in settle_items(0, 0, "h2", None)] == ["Update", "Put"]


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _post(endpoint: str, token: str) -> tuple[int, dict[str, Any]]:
    port = int(endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"ClientRequestToken": token}).encode()
        connection.request("POST", "/", body=body, headers={"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_proxy_faults_the_queued_calls_and_records_tokens(upstream: tuple[str, list[bytes]]) -> None:
    endpoint, received = upstream
    with FaultProxy(endpoint) as proxy:
        proxy.fault_next("throttle", "lost")
        status, body = _post(proxy.endpoint, "t1")
        assert (status, body["__type"].rpartition("#")[2]) == (400, "ThrottlingException")
        assert received == []  # a throttled call never reaches the store
        status, body = _post(proxy.endpoint, "t2")
        assert (status, body["__type"].rpartition("#")[2]) == (500, "InternalServerError")
        assert len(received) == 1  # a lost response: the write landed
        assert _post(proxy.endpoint, "t3") == (200, {"ok": True})
    assert proxy.seen == [
        Seen("TransactWriteItems", "t1", "throttle"),
        Seen("TransactWriteItems", "t2", "lost"),
        Seen("TransactWriteItems", "t3", None),
    ]
