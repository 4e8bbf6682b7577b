"""Operator alerts: the maintenance report goes to the SNS topic of template.yaml (``AlertsTopic``;
operators subscribe e-mail or an HTTPS webhook). Locally the topic is the emulator's."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from tollway.settings import Settings

__all__ = ["Alerts", "MemoryAlerts", "SnsAlerts"]

_SUBJECT_MAX = 100  # SNS limit for e-mail subjects


class Alerts(Protocol):
    def publish(self, subject: str, message: str) -> str | None:
        """Publish; returns the message id, or None when no topic is configured."""


class SnsAlerts:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._client: Any = None

    def publish(self, subject: str, message: str) -> str | None:
        topic = self._settings.alerts_topic_arn
        if not topic:
            return None
        with self._lock:
            if self._client is None:
                import boto3

                from tollway.dynamo import boto_config

                self._client = boto3.session.Session().client(
                    "sns", endpoint_url=self._settings.aws_endpoint_url, config=boto_config(self._settings, pool=2)
                )
        response = self._client.publish(TopicArn=topic, Subject=subject[:_SUBJECT_MAX], Message=message)
        return str(response["MessageId"])


@dataclass
class MemoryAlerts:
    messages: list[tuple[str, str]] = field(default_factory=list)

    def publish(self, subject: str, message: str) -> str | None:
        self.messages.append((subject, message))
        return f"memory-{len(self.messages)}"
