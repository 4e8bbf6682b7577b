"""``tollway local`` and ``tollway admin <group> <verb> [--options] [--json | --wide] [--out FILE]``.

Exit codes: 0 ok, 1 command error, 2 usage error (bad options, unknown command, invalid arguments),
141 when the reader of the output went away (``tollway admin … | head``), as a shell reports SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tollway.admin.commands import load
from tollway.admin.errors import USAGE_ERRORS
from tollway.admin.registry import Command

from tollway_cli.options import add_model_options, collect_args, flag_of
from tollway_cli.output import render
from tollway_cli.secrets_file import SECRET_COMMANDS, secret_rows, write_csv
from tollway_cli.transport import LambdaTransport, LocalTransport, Transport, TransportError

__all__ = ["build_parser", "main", "run_admin"]

_PIPE_CLOSED = 141
_HELP = argparse.RawDescriptionHelpFormatter


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help strings with %


def _command_list(commands: list[Command[Any]]) -> str:
    width = max(len(f"{c.group} {c.verb}") for c in commands)
    return "\n".join(f"  {c.group} {c.verb}".ljust(width + 4) + c.summary for c in commands)


def _admin_parser(sub: Any) -> None:
    commands = load().commands()
    admin = sub.add_parser(
        "admin",
        help="Run an operator command (on the local stack, or a deployed stack with --stack).",
        description="Run an operator command. Every command prints readable text, or its JSON envelope with --json.",
        epilog=_escape("commands (tollway admin GROUP VERB --help for its options):\n" + _command_list(commands)),
        formatter_class=_HELP,
    )
    admin.add_argument(
        "--state-dir", default=".tollway", type=Path, help="Local stack state folder (default .tollway)."
    )
    admin.add_argument("--url", default=None, help="Local stack URL (default: from the state folder).")
    target = admin.add_mutually_exclusive_group()
    target.add_argument("--stack", default=None, help="Deployed stack name (finds the admin function).")
    target.add_argument("--function", default=None, help="Deployed admin function name.")
    admin.add_argument("--region", default=None, help="AWS region of the deployed stack (default: AWS_REGION).")
    admin.add_argument(
        "--download-dir", default=None, type=Path, help="Where exports are saved (default: . for the local stack)."
    )
    groups = admin.add_subparsers(dest="group", metavar="GROUP", required=True)
    by_group: dict[str, Any] = {}
    for group in sorted({c.group for c in commands}):
        members = [c for c in commands if c.group == group]
        verbs = ", ".join(c.verb for c in members)
        parser = groups.add_parser(
            group,
            help=f"{verbs}",
            description=f"{group} commands:\n" + _escape(_command_list(members)),
            formatter_class=_HELP,
        )
        by_group[group] = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for command in commands:
        summary = _escape(command.summary)
        verb = by_group[command.group].add_parser(command.verb, help=summary, description=summary)
        add_model_options(verb, command.args)
        output = verb.add_argument_group("output")
        output.add_argument("--json", action="store_true", help="Print the JSON envelope (for scripts).")
        output.add_argument("--wide", action="store_true", help="Show every column and every value whole.")
        if command.name in SECRET_COMMANDS:
            output.add_argument(
                "--out",
                type=Path,
                default=None,
                metavar="FILE",
                help="Write the new secrets to FILE as CSV instead of printing them (created with mode 600, never "
                "overwritten: if FILE exists they are printed); --json prints them as well.",
            )
        verb.set_defaults(command=command)


def _local_parser(sub: Any) -> None:
    local = sub.add_parser(
        "local",
        help="Start the local stack (relay, admin, emulator, mock upstream).",
        description="Start the local stack: the relay, the admin route and the Midjourney callback route on one "
        "port, with the DynamoDB/S3 emulator and a mock upstream as child processes.",
    )
    local.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    local.add_argument("--port", default=8080, type=int, help="Port to listen on (default 8080; 0: any free port).")
    local.add_argument("--state-dir", default=".tollway", type=Path, help="State folder (default .tollway).")
    local.add_argument(
        "--emulator-port",
        default=0,
        type=int,
        help="Fixed port for the DynamoDB/S3 emulator (default: any free port), e.g. 4566 for `sam local` "
        "(docs/deploy.md).",
    )
    local.add_argument(
        "--demo-key",
        default=None,
        metavar="KEY",
        help="Use KEY as the demo account's API key (e.g. the example key of the ready events in events/relay/).",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollway", description="tollway: a serverless AI API relay.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    _local_parser(sub)
    _admin_parser(sub)
    return parser


def _transport(ns: argparse.Namespace) -> Transport:
    if ns.stack or ns.function:
        return LambdaTransport(function=ns.function, stack=ns.stack, region=ns.region)
    return LocalTransport(ns.state_dir, ns.url)


def _error_text(error: dict[str, Any], command: Command[Any]) -> str:
    """The error as the operator typed it: argument names become the options they gave."""
    message = str(error.get("message"))
    details = error.get("details")
    if error.get("code") == "invalid_args" and isinstance(details, list) and details:
        fields = set(command.args.model_fields)
        parts = []
        for item in details:
            if not isinstance(item, dict):
                break
            field = str(item.get("field", "")).split(".", 1)[0]
            name = flag_of(field) if field in fields else field
            problem = str(item.get("problem")).removeprefix("Value error, ")  # pydantic's prefix says nothing
            parts.append(f"{name}: {problem}")
        else:
            message = "; ".join(parts)
    return f"error ({error.get('code')}): {message}\n"


def _write_secrets(ns: argparse.Namespace, envelope: dict[str, Any], err: TextIO) -> bool:
    """``--out``: write the new secrets; ``True`` if they went to the file (and need not be printed)."""
    path: Path | None = getattr(ns, "out", None)
    result = envelope.get("result")
    if path is None or not envelope.get("ok") or not isinstance(result, dict):
        return False
    rows = secret_rows(ns.command.name, result)
    try:
        write_csv(path, rows)
    except OSError as exc:
        err.write(f"tollway admin: could not write {path}: {exc.strerror or exc}; the secrets are printed below.\n")
        return False
    what = {"redeem.create": "codes", "console.invite": "invite codes"}.get(ns.command.name, "key")
    err.write(f"wrote {len(rows)} {what} to {path} (mode 600); they are not shown again.\n")
    return True


def run_admin(ns: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    command: Command[Any] = ns.command
    try:
        args = collect_args(ns, command.args)
    except ValueError as exc:
        err.write(f"tollway admin {command.group} {command.verb}: {exc}\n")
        return 2
    try:
        envelope = _transport(ns).send(command.name, args)
    except TransportError as exc:
        err.write(f"tollway admin: {exc}\n")
        return 1
    in_file = _write_secrets(ns, envelope, err)
    if ns.json:
        out.write(json.dumps(envelope, indent=2) + "\n")
    elif envelope.get("ok"):
        result = envelope.get("result")
        if in_file and isinstance(result, dict):
            field = SECRET_COMMANDS[command.name]
            result = {k: v for k, v in result.items() if k != field}
        render(result, out, wide=ns.wide)
    else:
        err.write(_error_text(envelope.get("error", {}), command))
    if envelope.get("warning"):
        err.write(f"warning: {envelope['warning']}\n")
    if envelope.get("ok"):
        _save_export(ns, envelope, err)
        return 1 if _probe_failed(command.name, envelope.get("result")) else 0
    return 2 if envelope.get("error", {}).get("code") in USAGE_ERRORS else 1


def _probe_failed(command: str, result: Any) -> bool:
    """``channel test`` ran, but the channel's call failed (``ok: false`` in its result): exit 1, so a
    script (``tollway admin channel test ch_1 && …``) sees a broken channel as a failure."""
    return command == "channel.test" and isinstance(result, dict) and result.get("ok") is False


def _save_export(ns: argparse.Namespace, envelope: dict[str, Any], err: TextIO) -> None:
    """An export's presigned link is downloaded for the local stack (or wherever --download-dir says)."""
    from tollway.exports import save_export

    local = not (ns.stack or ns.function)
    if ns.download_dir is not None or local:
        saved = save_export(envelope.get("result"), ns.download_dir or Path.cwd())
        if saved is not None:
            err.write(f"saved {saved}\n")


def _run_local(ns: argparse.Namespace) -> int:
    from tollway.keys import is_well_formed
    from tollway_local.stack import PortInUse, run_local  # the dev stack: never part of the Lambda layer

    if ns.demo_key is not None and not is_well_formed(ns.demo_key):
        sys.stderr.write("tollway local: --demo-key: not a tollway key (sk-…, with its checksum)\n")
        return 2
    try:
        return run_local(
            host=ns.host,
            port=ns.port,
            state_dir=ns.state_dir,
            emulator_port=ns.emulator_port,
            demo_key=ns.demo_key,
        )
    except PortInUse as exc:
        sys.stderr.write(f"tollway local: {exc}\n")
        return 1


def _main(argv: Sequence[str] | None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.cmd == "local":
        return _run_local(ns)
    return run_admin(ns)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): stop quietly. Python would otherwise report the failed flush of
        # stdout at exit, so point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _PIPE_CLOSED
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
