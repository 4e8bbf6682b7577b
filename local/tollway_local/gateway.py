"""The local stand-in for API Gateway's non-relay routes, so the local stack runs the real handlers.

``POST /admin/{command}`` is authorised by the admin secret kept in the state folder (AWS uses IAM) and
then delivered to the admin function's ``lambda_handler`` as an API Gateway REST proxy event, exactly
as API Gateway would; ``POST /mj/callback/…`` likewise reaches the callback function.
"""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from tollway.admin.errors import admin_failure, admin_status
from tollway.errors import AuthenticationFailed

__all__ = ["LambdaContext", "api_gateway_event", "local_routes"]


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def api_gateway_event(
    request: Request, body: bytes, resource: str, path_params: dict[str, str], actor: str
) -> dict[str, Any]:
    """A REST API proxy event for ``request`` (what the Lambda integration would receive)."""
    text: str | None
    is_b64 = False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    return {
        "resource": resource,
        "path": request.url.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(request.query_params) or None,
        "multiValueQueryStringParameters": {k: request.query_params.getlist(k) for k in request.query_params} or None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": request.method,
            "path": request.url.path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userArn": actor,
                "caller": actor,
            },
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def _response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    return Response(raw, status_code=int(result.get("statusCode", 200)), headers=headers)


def local_routes(
    admin_secret: str, admin_handler: Callable[..., Any], callback_handler: Callable[..., Any]
) -> list[BaseRoute]:
    async def admin(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        command = request.path_params["command"]
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin_secret.encode()):
            refused = AuthenticationFailed("Missing or wrong admin secret.", code="unauthorized")
            # the admin envelope and its status come from the admin table, as on every admin transport
            return JSONResponse(admin_failure(command, refused), status_code=admin_status(refused))
        body = await request.body()
        event = api_gateway_event(request, body, "/admin/{command}", {"command": command}, "local")
        result = await anyio.to_thread.run_sync(admin_handler, event, LambdaContext("tollway-admin-local"))
        return _response(result)

    async def callback(request: Request) -> Response:
        body = await request.body()
        event = api_gateway_event(request, body, "/mj/callback/{proxy+}", {"proxy": request.path_params["rest"]}, "")
        result = await anyio.to_thread.run_sync(callback_handler, event, LambdaContext("tollway-mj-callback-local"))
        return _response(result)

    return [
        Route("/admin/{command}", admin, methods=["POST"]),
        Route("/mj/callback/{rest:path}", callback, methods=["POST"]),
    ]
