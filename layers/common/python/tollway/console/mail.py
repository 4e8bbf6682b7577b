"""Console mail (e-mail verification): Amazon SES on AWS; on the local stack, printed and kept.

The local stack has no mail server: each message is printed on ``tollway local``'s terminal and kept
for a day in the console table, where the local-only page ``/console/api/dev/mail`` lists it.
"""

from __future__ import annotations

import logging
import sys

from tollway.console.store import ConsoleStore
from tollway.settings import Settings

__all__ = ["is_local", "send_mail"]

log = logging.getLogger("tollway.console")


def is_local(settings: Settings) -> bool:
    """The local stack (an emulator endpoint), where mail is printed instead of sent."""
    return settings.aws_endpoint_url is not None or settings.stage == "local"


def send_mail(settings: Settings, store: ConsoleStore, *, to: str, subject: str, body: str, now_ms: int) -> None:
    if is_local(settings):
        store.keep_mail(to, subject, body, now_ms=now_ms)
        print(f"\n[tollway local mail] to {to}: {subject}\n{body}\n", file=sys.stderr, flush=True)
        return
    if not settings.console_mail_from:
        log.error("console mail to a customer not sent: TOLLWAY_CONSOLE_MAIL_FROM is not set")
        return
    import boto3

    ses = boto3.session.Session().client("sesv2", region_name=settings.region)
    ses.send_email(
        FromEmailAddress=settings.console_mail_from,
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}}},
    )
