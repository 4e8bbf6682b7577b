"""Midjourney callbacks (``POST /mj/callback/{proxy+}``).

The foundation deploys this function and its route; the Midjourney relay (tasks, signatures, state
rules, refunds) is built on top of it. Until then every callback is answered 404, so an upstream that
calls it learns nothing and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "lambda_handler"]

logger = Logger(service="tollway-mj-callback")
app = APIGatewayRestResolver()


@app.post("/mj/callback/<rest>")
def callback(rest: str) -> Response[str]:
    return Response(
        status_code=404,
        content_type="application/json",
        body='{"code": 404, "description": "unknown task"}',
    )


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
