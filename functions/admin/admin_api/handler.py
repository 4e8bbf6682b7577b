"""The admin function: one handler for direct invokes, the IAM-authorised API route and the schedule.

- Direct Lambda Invoke: ``{"command": "account.create", "args": {...}, "actor": "..."}`` — the actor is
  recorded as claimed by the caller (the CLI fills it from the caller's identity).
- API Gateway ``POST /admin/{command}`` (AWS_IAM): body = the args; the actor is the verified IAM
  principal from the request context.
- EventBridge schedule: its Input is a direct-invoke event (``maintenance.run``: the sweep, and the
  report published to the alerts topic).

Every mutating command leaves an audit-trail entry with the actor as above (``trail.query``); the
ready events of every command are in ``events/admin/`` (``sam local invoke AdminFunction -e …``).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from tollway.admin.commands import load
from tollway.admin.errors import admin_failure, admin_status
from tollway.admin.registry import AdminContext, Registry
from tollway.errors import InvalidArguments
from tollway.services import Services
from tollway.settings import get_settings

__all__ = ["answer_event", "configure", "dispatch_event", "lambda_handler", "services"]

logger = Logger(service="tollway-admin")
app = APIGatewayRestResolver()


_override: Services | None = None


def configure(services: Services | None) -> None:
    """Use these services instead of building them from the environment (the local stack shares the
    relay's, so an admin change is seen at once)."""
    global _override
    _override = services


def services() -> Services:
    """Built on first use (never at import), once per execution environment."""
    return _override if _override is not None else _from_env()


@functools.cache
def _from_env() -> Services:
    return Services.on_aws(get_settings())


def registry() -> Registry:
    return load()


def dispatch_event(command: str, args: Any, actor: str) -> dict[str, Any]:
    return answer_event(command, args, actor)[1]


def answer_event(command: str, args: Any, actor: str) -> tuple[int, dict[str, Any]]:
    """The envelope and the HTTP status it travels with on the admin route."""
    return registry().answer(command, args, AdminContext(services=services(), actor=actor))


@app.post("/admin/<command>")
def admin_route(command: str) -> Response[str]:
    identity = app.current_event.request_context.identity
    actor = identity.user_arn or identity.caller or "iam:unknown"
    raw = app.current_event.body or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        error = InvalidArguments("The body is not valid JSON.")
        status, envelope = admin_status(error), admin_failure(command, error)
    else:
        status, envelope = answer_event(command, args, actor)
    return Response(status_code=status, content_type="application/json", body=json.dumps(envelope))


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "command" in event:
        actor = str(event.get("actor") or "direct-invoke")
        return dispatch_event(str(event["command"]), event.get("args"), f"claimed:{actor}")
    return app.resolve(event, context)
