"""Usage exports: CSV written to S3, handed out as a presigned link (a Lambda response cannot carry a
large file). Locally the bucket is the emulator's, and ``tollway admin usage export`` downloads the
file (``download``); on AWS the link works for ``settings.export_link_ttl_s`` and the bucket's
lifecycle rule deletes exports after 7 days.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from tollway.money import format_usd
from tollway.records import UsageRecord
from tollway.settings import Settings

__all__ = [
    "COLUMNS",
    "CUSTOMER_COLUMNS",
    "ExportLink",
    "Exporter",
    "MemoryExporter",
    "S3Exporter",
    "download",
    "save_export",
    "spooled_csv",
    "write_usage_csv",
]

COLUMNS = (
    "request_id",
    "time",
    "account_id",
    "key_id",
    "endpoint",
    "model",
    "upstream_model",
    "channel_id",
    "group",
    "stream",
    "status",
    "http_status",
    "error_code",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tokens",
    "units",
    "service_tier",
    "hold",
    "charge",
    "charge_usd",
    "shortfall",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "task_id",
)
# Text a spreadsheet would run as a formula (model names and error codes come from customers' requests).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(record: UsageRecord) -> list[Any]:
    data = record.to_json()
    tokens = record.tokens
    return [
        record.request_id,
        data["time"],
        record.account_id,
        _text(record.key_id),
        _text(record.endpoint),
        _text(record.model),
        _text(record.upstream_model),
        _text(record.channel_id),
        _text(record.group),
        "true" if record.stream else "false",
        record.status.value,
        record.http_status,
        _text(record.error_code),
        tokens.get("input", ""),
        tokens.get("cached", ""),
        tokens.get("cache_write", ""),
        tokens.get("output", ""),
        tokens.get("reasoning", ""),
        _text(json.dumps(tokens, separators=(",", ":"))) if tokens else "",
        _text(json.dumps(record.units, separators=(",", ":"))) if record.units else "",
        _text(record.service_tier),
        record.hold,
        record.charge,
        format_usd(record.charge),
        record.shortfall,
        "" if record.latency_ms is None else record.latency_ms,
        "" if record.ttft_ms is None else record.ttft_ms,
        record.attempts,
        _text(record.task_id),
    ]


# What a customer's own export holds (the console's CSV): no channel, upstream model, group or hold.
CUSTOMER_COLUMNS = tuple(c for c in COLUMNS if c not in ("upstream_model", "channel_id", "group", "hold", "attempts"))


def write_usage_csv(records: Iterable[UsageRecord], out: IO[str], columns: tuple[str, ...] = COLUMNS) -> int:
    """Write a header and one row per record (``columns``, a subset of :data:`COLUMNS`); returns the rows."""
    picks = [COLUMNS.index(c) for c in columns]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    rows = 0
    for record in records:
        row = _row(record)
        writer.writerow([row[i] for i in picks])
        rows += 1
    return rows


@dataclass(frozen=True)
class ExportLink:
    bucket: str
    key: str
    url: str
    expires_in_s: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "download_url": self.url,
            "expires_in_s": self.expires_in_s,
            "bytes": self.size,
            "filename": self.key.rsplit("/", 1)[-1],
        }


class Exporter(Protocol):
    def upload(self, key: str, body: IO[bytes], size: int, content_type: str) -> ExportLink: ...


class S3Exporter:
    """Uploads to ``settings.export_bucket`` (multipart for large files) and presigns a GET."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: Any = None

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                from tollway.dynamo import boto_config

                # Presigned links are SigV4 (botocore may still sign them with SigV2 in us-east-1).
                config = boto_config(self._settings, pool=4).merge(Config(signature_version="s3v4"))
                if self._settings.aws_endpoint_url:
                    # the emulator serves buckets by path, not as <bucket>.<host>
                    config = config.merge(Config(s3={"addressing_style": "path"}))
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self._settings.aws_endpoint_url, config=config
                )
            return self._client

    def upload(self, key: str, body: IO[bytes], size: int, content_type: str) -> ExportLink:
        s3 = self._s3()
        bucket = self._settings.export_bucket
        s3.upload_fileobj(body, bucket, key, ExtraArgs={"ContentType": content_type})
        filename = key.rsplit("/", 1)[-1]
        url = s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=self._settings.export_link_ttl_s,
        )
        ttl = self._settings.export_link_ttl_s
        return ExportLink(bucket=bucket, key=key, url=str(url), expires_in_s=ttl, size=size)


class MemoryExporter:
    """Keeps exports in memory (unit tests); the link is ``memory://bucket/key``."""

    def __init__(self, bucket: str = "exports") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}

    def upload(self, key: str, body: IO[bytes], size: int, content_type: str) -> ExportLink:
        self.objects[key] = body.read()
        return ExportLink(self.bucket, key, f"memory://{self.bucket}/{key}", 3600, size)


def spooled_csv(records: Iterable[UsageRecord]) -> tuple[IO[bytes], int, int]:
    """The CSV of ``records`` in a temporary file (memory up to 8 MB, then disk): (file, rows, bytes)."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    rows = write_usage_csv(records, text)
    text.flush()
    text.detach()
    size = spool.tell()
    spool.seek(0)
    return spool, rows, size


def download(url: str, directory: Path, filename: str | None = None, *, timeout_s: float = 300) -> Path:
    """Fetch an export's presigned link into ``directory`` (what the CLI does for the local stack)."""
    import httpx2

    name = filename or Path(urllib.parse.urlparse(url).path).name or "export.csv"
    target = directory / name
    with httpx2.stream("GET", url, timeout=timeout_s, follow_redirects=False, trust_env=False) as response:
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    return target


def save_export(result: Any, directory: Path) -> Path | None:
    """Download the file a command's result links to (``download_url``), if it links to one."""
    if not isinstance(result, dict) or not str(result.get("download_url", "")).startswith(("http://", "https://")):
        return None
    directory.mkdir(parents=True, exist_ok=True)
    filename = result.get("filename")
    return download(str(result["download_url"]), directory, str(filename) if filename else None)
