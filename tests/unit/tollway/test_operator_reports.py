"""Stats and CSV exports computed from usage records, and the maintenance run's report (both stores)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tollway.admin.registry import AdminContext
from tollway.alerts import MemoryAlerts, SnsAlerts
from tollway.config.model import ChannelStatus
from tollway.exports import MemoryExporter, write_usage_csv
from tollway.ids import request_id
from tollway.ledger.model import HoldRequest, HoldState
from tollway.operator import operator_stores, use_operator_stores
from tollway.records import RecordStatus, UsageRecord
from tollway.settings import Settings
from tollway.usage.stats import compute_stats, percentile

from tests.support.factories import Stores, make_account, make_key, now_ms
from tests.unit.admin.helpers import run, services_of

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)
T0 = int(DAY.timestamp() * 1000)


def record(account: str, at: int, model: str, status: RecordStatus, **extra: Any) -> UsageRecord:
    return UsageRecord(
        request_id=request_id(at),
        created_at=at,
        account_id=account,
        key_id="key_x",
        endpoint="chat.completions",
        status=status,
        http_status={RecordStatus.OK: 200, RecordStatus.REFUSED: 402}.get(status, 502),
        model=model,
        channel_id="ch_a",
        **extra,
    )


def seed(stores: Stores) -> tuple[str, str]:
    first, second = "acct_stats_one", "acct_stats_two"
    for n in range(20):  # day 1, model a: latencies 10..200 ms, ttft 5..100 ms, 2 tokens in, 3 out, 7 micros
        stores.ledger.put_record(
            record(
                first,
                T0 + n,
                "a",
                RecordStatus.OK,
                latency_ms=10 * (n + 1),
                ttft_ms=5 * (n + 1),
                tokens={"input": 2, "output": 3},
                charge=7,
            )  # fmt: skip
        )
    stores.ledger.put_record(record(first, T0 + 100, "a", RecordStatus.ERROR, latency_ms=1000))
    stores.ledger.put_record(record(second, T0 + 200, "a", RecordStatus.REFUSED, latency_ms=1))
    stores.ledger.put_record(record(second, T0 + 86_400_000, "b", RecordStatus.OK, latency_ms=50, charge=100))
    return first, second


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7], 95) == 7
    assert percentile([3, 1, 2, 4], 50) == 2


def test_stats_per_day_and_model_from_the_records(stores: Stores) -> None:
    first, second = seed(stores)
    report = compute_stats(stores.usage, start_ms=T0 - 3600_000, end_ms=T0 + 2 * 86_400_000, by="model")
    assert report.records == 23 and not report.truncated
    day2, day1 = report.rows
    assert (day2["day"], day2["model"], day2["requests"], day2["charge"]) == ("2026-11-21", "b", 1, 100)
    assert day1["day"] == "2026-11-20" and day1["model"] == "a"
    assert (day1["requests"], day1["ok"], day1["errors"], day1["refused"]) == (22, 20, 1, 1)
    assert day1["error_rate"] == "0.0476"  # 1 failed of the 21 calls that reached an upstream
    assert (day1["input_tokens"], day1["output_tokens"], day1["charge"]) == (40, 60, 140)
    # latencies 10..200 and the error's 1000 (the refusal never reached an upstream): 21 values
    assert (day1["latency_p50_ms"], day1["latency_p95_ms"]) == (110, 200)
    assert (day1["ttft_p50_ms"], day1["ttft_p95_ms"]) == (50, 95)
    assert report.totals["requests"] == 23 and report.totals["charge"] == 240
    by_account = compute_stats(stores.usage, start_ms=T0 - 1, end_ms=T0 + 86_400_000, by="account", account_id=second)
    assert [(r["account"], r["requests"]) for r in by_account.rows] == [(second, 1)]


def test_stats_command_and_export_command(stores: Stores) -> None:
    first, _ = seed(stores)
    svc = services_of(stores)
    exporter = MemoryExporter()
    use_operator_stores(svc, operator_stores(svc))
    operator_stores(svc).exports = exporter
    context = AdminContext(services=svc, actor="local", clock_ms=lambda: T0 + 2 * 86_400_000)
    stats = run(context, "stats.query", by="channel", start="2026-11-20", end="2026-11-21")
    assert [(r["day"], r["channel"], r["requests"]) for r in stats["rows"]] == [
        ("2026-11-21", "ch_a", 1),
        ("2026-11-20", "ch_a", 22),
    ]
    exported = run(context, "usage.export", account_id=first, start="2026-11-19T00:00:00Z", status="ok")
    assert exported["rows"] == 20 and exported["download_url"].startswith("memory://")
    rows = list(csv.DictReader(io.StringIO(exporter.objects[exported["key"]].decode())))
    assert len(rows) == 20 and {r["status"] for r in rows} == {"ok"} and rows[0]["charge_usd"] == "0.000007"


def test_csv_cells_a_spreadsheet_would_run_are_defused() -> None:
    out = io.StringIO()
    write_usage_csv([record("acct", T0, '=HYPERLINK("http://x")', RecordStatus.REFUSED)], out)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["model"].startswith("'=")


def test_export_to_s3_and_a_presigned_link() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="exports-test")
        from tollway.exports import S3Exporter

        exporter = S3Exporter(Settings(export_bucket="exports-test"))
        link = exporter.upload("exports/x.csv", io.BytesIO(b"a,b\n1,2\n"), 8, "text/csv")
        assert s3.get_object(Bucket="exports-test", Key="exports/x.csv")["Body"].read() == b"a,b\n1,2\n"
        assert "X-Amz-Signature=" in link.url and "exports-test" in link.url and link.expires_in_s == 3600


def test_alerts_publish_to_the_topic() -> None:
    with mock_aws():
        arn = boto3.client("sns", region_name="us-east-1").create_topic(Name="AlertsTopic")["TopicArn"]
        assert SnsAlerts(Settings(alerts_topic_arn=arn)).publish("subject", "body")
        assert SnsAlerts(Settings()).publish("subject", "body") is None  # no topic configured


def test_maintenance_run_refunds_an_orphan_and_reports_what_is_new_once(stores: Stores) -> None:
    svc = services_of(stores)
    alerts = MemoryAlerts()
    operator_stores(svc).alerts = alerts
    clock = [now_ms()]
    context = AdminContext(services=svc, actor="claimed:schedule", clock_ms=lambda: clock[0])
    poor = make_account(stores, 300_000)  # under the $1.00 default threshold
    rich = make_account(stores, 5_000_000)
    _, key = make_key(stores, rich)
    started = clock[0] - 2_000_000
    orphan = HoldRequest(request_id(started), rich.account_id, key.key_hash, key.key_id, False, 40_000, started,
                         endpoint="chat.completions", model="m")  # fmt: skip
    stores.ledger.reserve(orphan)  # its process died before settling
    run(context, "channel.add", channel_id="flaky", name="flaky", base_url="https://up.example/v1", models=["m"])
    stores.config.set_channel_status("flaky", ChannelStatus.AUTO_DISABLED, "upstream said: invalid api key")
    clock[0] = now_ms() + 1

    first = run(context, "maintenance.run")
    assert first["sweep"]["refunded_ids"] == [orphan.hold_id]
    assert [c["channel_id"] for c in first["channels_auto_disabled_since_last_run"]] == ["flaky"]
    assert poor.account_id in [a["account_id"] for a in first["low_balance_since_last_run"]]
    assert rich.account_id not in [a["account_id"] for a in first["low_balance_since_last_run"]]
    assert first["published"] and "flaky" in alerts.messages[0][1] and "orphaned refunded" in first["report"]
    assert stores.ledger.balance(rich.account_id) == 5_000_000
    assert not [h for h in stores.ledger.holds() if h.state is HoldState.OPEN]
    (recorded,) = [r for r in stores.usage.query(_for(rich.account_id)).records if r.request_id == orphan.hold_id]
    assert recorded.status is RecordStatus.ORPHANED and recorded.charge == 0
    assert stores.ledger.audit(rich.account_id).ok

    clock[0] += 60_000
    second = run(context, "maintenance.run")  # nothing new since the last run: not published again
    assert second["sweep"]["refunded"] == 0 and second["channels_auto_disabled_since_last_run"] == []
    assert second["low_balance_since_last_run"] == [] and second["low_balance_accounts"] >= 1
    assert second["published"] is None and len(alerts.messages) == 1


def _for(account_id: str) -> Any:
    from tollway.usage.query import UsageFilter

    return UsageFilter(account_id=account_id, limit=100)


@pytest.mark.parametrize("publish", ["always", "never"])
def test_maintenance_publish_modes(memory: Stores, publish: str) -> None:
    svc = services_of(memory)
    alerts = MemoryAlerts()
    operator_stores(svc).alerts = alerts
    result = run(AdminContext(services=svc, actor="local"), "maintenance.run", publish=publish)
    assert bool(result["published"]) is (publish == "always") and len(alerts.messages) == (publish == "always")
