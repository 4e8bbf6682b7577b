"""Where ``tollway admin`` sends a command: the local stack (default) or a deployed admin function."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import httpx2

__all__ = ["LambdaTransport", "LocalTransport", "Transport", "TransportError"]


class TransportError(RuntimeError):
    """The command could not be delivered (stack not running, no credentials, …)."""


class Transport(Protocol):
    def send(self, command: str, args: dict[str, Any]) -> dict[str, Any]: ...


class LocalTransport:
    """``POST {url}/admin/{command}`` with the admin secret kept in the state folder."""

    def __init__(self, state_dir: Path, url: str | None = None) -> None:
        self._state = state_dir
        self._url = url

    def _target(self) -> tuple[str, str]:
        secret_file = self._state / "admin-secret"
        info_file = self._state / "local.json"
        if not secret_file.exists():
            raise TransportError(f"No local stack state in {self._state} (start it with `tollway local`).")
        url = self._url
        if url is None:
            if not info_file.exists():
                raise TransportError(f"The local stack in {self._state} is not running (no local.json).")
            url = str(json.loads(info_file.read_text())["url"])
        return url.rstrip("/"), secret_file.read_text().strip()

    def send(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        url, secret = self._target()
        try:
            response = httpx2.post(
                f"{url}/admin/{command}",
                json=args,
                headers={"authorization": f"Bearer {secret}"},
                timeout=300,
                follow_redirects=False,  # the admin secret goes to the stack named, nowhere else
            )
        except httpx2.TransportError as exc:
            raise TransportError(f"Could not reach the local stack at {url}: {exc}") from exc
        try:
            envelope: dict[str, Any] = response.json()
        except ValueError as exc:
            raise TransportError(f"Unexpected answer from {url} (HTTP {response.status_code}).") from exc
        return envelope


class LambdaTransport:
    """Lambda Invoke of a deployed admin function (by name, or found in a stack's outputs)."""

    def __init__(self, *, function: str | None, stack: str | None, region: str | None) -> None:
        self._function = function
        self._stack = stack
        self._region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self._region)

    def _function_name(self, session: Any) -> str:
        if self._function:
            return self._function
        outputs = (
            session.client("cloudformation").describe_stacks(StackName=self._stack)["Stacks"][0].get("Outputs", [])
        )
        for output in outputs:
            if output["OutputKey"] == "AdminFunctionName":
                return str(output["OutputValue"])
        raise TransportError(f"Stack {self._stack} has no AdminFunctionName output.")

    def send(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            session = self._session()
            actor = session.client("sts").get_caller_identity()["Arn"]
            response = session.client("lambda").invoke(
                FunctionName=self._function_name(session),
                Payload=json.dumps({"command": command, "args": args, "actor": actor}).encode(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise TransportError(str(exc)) from exc
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise TransportError(f"The admin function failed: {payload}")
        envelope: dict[str, Any] = payload
        return envelope
