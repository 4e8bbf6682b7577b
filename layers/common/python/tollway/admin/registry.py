"""The admin command registry.

Commands are named ``<group>.<verb>`` (``account.create``, ``key.create``, ``channel.add``,
``usage.query``, ``audit.run``, …). Each has a pydantic argument model (``extra="forbid"``: a misspelt
argument is an error, not silently ignored) and one handler. Every transport — direct Lambda invoke,
the IAM-authorised ``POST /admin/{command}`` route, the local stack's ``POST /admin/{command}`` and the
``tollway admin`` CLI — ends in :meth:`Registry.dispatch`, which always answers an envelope::

    {"ok": true,  "command": "account.create", "result": {...}}
    {"ok": false, "command": "account.create", "error": {"code", "message", "details"?}}

A command fails by raising a class of the error tree (``tollway.errors``: ``InvalidArguments``,
``NotFound``, ``Conflict``, …); ``tollway.admin.errors`` turns it into the envelope and its HTTP status.
Error codes ``unknown_command`` and ``invalid_args`` are usage errors (CLI exit 2); every other code is a
command error (CLI exit 1).

``AdminContext.actor`` says who asked: the verified IAM principal on the IAM route, ``claimed:<actor>``
on a direct invoke (the CLI fills it from the caller's identity), ``local`` on the local stack. Every
mutating command leaves an audit-trail entry (``tollway/trail.py``) with that actor, its arguments
(secrets masked) and its outcome — failures included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tollway.admin.errors import USAGE_ERRORS, admin_failure, admin_status
from tollway.errors import InvalidArguments, TollwayError, UnknownCommand
from tollway.services import Services

__all__ = ["REGISTRY", "USAGE_ERRORS", "AdminContext", "Args", "Command", "Registry"]

log = logging.getLogger(__name__)


class Args(BaseModel):
    """Base of every argument model: unknown arguments are refused, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


A = TypeVar("A", bound=Args)


@dataclass
class AdminContext:
    services: Services
    actor: str
    clock_ms: Callable[[], int] = field(default_factory=lambda: lambda: int(time.time() * 1000))


@dataclass(frozen=True)
class Command(Generic[A]):
    name: str
    args: type[A]
    handler: Callable[[A, AdminContext], Any]
    mutating: bool
    summary: str

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(".", 1)[1]


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, Command[Any]] = {}

    def command(
        self, name: str, args: type[A], *, mutating: bool = True, summary: str = ""
    ) -> Callable[[Callable[[A, AdminContext], Any]], Callable[[A, AdminContext], Any]]:
        if name.count(".") != 1:
            raise ValueError(f"command names are <group>.<verb>: {name!r}")

        def register(handler: Callable[[A, AdminContext], Any]) -> Callable[[A, AdminContext], Any]:
            if name in self._commands:
                raise ValueError(f"command {name} registered twice")
            self._commands[name] = Command(name, args, handler, mutating, summary or (handler.__doc__ or "").strip())
            return handler

        return register

    def get(self, name: str) -> Command[Any] | None:
        return self._commands.get(name)

    def commands(self) -> list[Command[Any]]:
        return [self._commands[k] for k in sorted(self._commands)]

    def dispatch(self, name: str, raw_args: Any, context: AdminContext) -> dict[str, Any]:
        """Run a command and wrap its outcome in the envelope. Never raises for a command's own errors.

        A mutating command leaves an audit-trail entry whatever its outcome (``trail.query``).
        """
        return self.answer(name, raw_args, context)[1]

    def answer(self, name: str, raw_args: Any, context: AdminContext) -> tuple[int, dict[str, Any]]:
        """:meth:`dispatch`, with the HTTP status the envelope travels with on the admin routes."""
        command = self._commands.get(name)
        error, result, trail_args = self._run(command, name, raw_args, context)
        if error is None:
            status, envelope = 200, {"ok": True, "command": name, "result": result}
        else:
            status, envelope = admin_status(error), admin_failure(name, error)
        if command is not None and command.mutating:
            _write_trail(name, trail_args, envelope, context)
        return status, envelope

    def _run(
        self, command: Command[Any] | None, name: str, raw_args: Any, context: AdminContext
    ) -> tuple[TollwayError | None, Any, Any]:
        """(the failure or None, the result, the arguments as the trail keeps them: validated and with
        secrets masked)."""
        if command is None:
            known = {"known": sorted(self._commands)}
            return UnknownCommand(f"Unknown command {name!r}.", details=known), None, None
        if raw_args is None:
            raw_args = {}
        if not isinstance(raw_args, dict):
            return InvalidArguments("Arguments must be a JSON object."), None, None
        try:
            args = command.args.model_validate(raw_args)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(args)", "problem": e["msg"]} for e in exc.errors()
            ]
            text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            return InvalidArguments(f"Invalid arguments: {text}", details=problems), None, raw_args
        trail_args = args.model_dump(mode="json", exclude_none=True)  # SecretStr comes out masked
        try:
            result = command.handler(args, context)
        except TollwayError as exc:
            return exc, None, trail_args
        except Exception as exc:
            # An operator command speaks to the operator: never the relay's customer wording, and no
            # promise about what was or was not changed — the log has the traceback.
            log.exception("admin command %s by %s failed", name, context.actor)
            message = (
                f"The command {name} failed unexpectedly ({type(exc).__name__}); the admin function's log has "
                "the details. Check the current state with a read command before retrying."
            )
            return TollwayError(message), None, trail_args
        log.info("admin command %s by %s", name, context.actor)
        return None, result, trail_args


def _write_trail(name: str, args: Any, envelope: dict[str, Any], context: AdminContext) -> None:
    """One trail entry for a mutating command. The command has already happened, so a failure to record
    it is logged and reported in the envelope rather than turned into a failure of the command."""
    from tollway.operator import operator_stores
    from tollway.trail import TrailEntry, new_entry_id, redact

    now = context.clock_ms()
    error = envelope.get("error") or {}
    entry = TrailEntry(
        entry_id=new_entry_id(now),
        at=now,
        command=name,
        actor=context.actor,
        args=redact(args),
        outcome="ok" if envelope.get("ok") else str(error.get("code", "error")),
        message=None if envelope.get("ok") else str(error.get("message", "")),
    )
    try:
        operator_stores(context.services).trail.append(entry)
    except Exception:
        log.exception("audit trail entry of %s by %s not written", name, context.actor)
        envelope["warning"] = "The audit-trail entry of this command could not be written."


REGISTRY = Registry()
