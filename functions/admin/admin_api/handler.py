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
from tollway.admin.registry import AdminContext, Registry, http_status_of
from tollway.services import Services
from tollway.settings import get_settings

__all__ = ["configure", "dispatch_event", "lambda_handler", "services"]

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
    return registry().dispatch(command, args, AdminContext(services=services(), actor=actor))


@app.post("/admin/<command>")
def admin_route(command: str) -> Response[str]:
    identity = app.current_event.request_context.identity
    actor = identity.user_arn or identity.caller or "iam:unknown"
    raw = app.current_event.body or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        envelope: dict[str, Any] = {
            "ok": False,
            "command": command,
            "error": {"code": "invalid_args", "message": "The body is not valid JSON."},
        }
    else:
        envelope = dispatch_event(command, args, actor)
    return Response(status_code=http_status_of(envelope), content_type="application/json", body=json.dumps(envelope))


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "command" in event:
        actor = str(event.get("actor") or "direct-invoke")
        return dispatch_event(str(event["command"]), event.get("args"), f"claimed:{actor}")
    return app.resolve(event, context)
