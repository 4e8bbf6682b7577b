"""``tollway local`` and ``tollway admin <group> <verb> [--options] [--json]``.

Exit codes: 0 ok, 1 command error, 2 usage error (bad options, unknown command, invalid arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tollway.admin.commands import load
from tollway.admin.registry import USAGE_ERRORS
from tollway_cli.options import add_model_options, collect_args
from tollway_cli.output import render
from tollway_cli.transport import LambdaTransport, LocalTransport, Transport, TransportError

__all__ = ["main"]


def _admin_parser(sub: Any) -> None:
    admin = sub.add_parser("admin", help="Run an operator command.", description="Run an operator command.")
    admin.add_argument("--state-dir", default=".tollway", type=Path, help="Local stack state folder.")
    admin.add_argument("--url", default=None, help="Local stack URL (default: from the state folder).")
    target = admin.add_mutually_exclusive_group()
    target.add_argument("--stack", default=None, help="Deployed stack name (finds the admin function).")
    target.add_argument("--function", default=None, help="Deployed admin function name.")
    admin.add_argument("--region", default=None)
    admin.add_argument(
        "--download-dir", default=None, type=Path, help="Where exports are saved (default: . for the local stack)."
    )
    groups = admin.add_subparsers(dest="group", metavar="GROUP", required=True)
    by_group: dict[str, Any] = {}
    for command in load().commands():
        if command.group not in by_group:
            parser = groups.add_parser(command.group, help=f"{command.group} commands")
            by_group[command.group] = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
        verb = by_group[command.group].add_parser(command.verb, help=command.summary, description=command.summary)
        add_model_options(verb, command.args)
        verb.add_argument("--json", action="store_true", help="Print the JSON envelope.")
        verb.set_defaults(command=command)


def _local_parser(sub: Any) -> None:
    local = sub.add_parser("local", help="Start the local stack.", description="Start the local stack.")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", default=8080, type=int)
    local.add_argument("--state-dir", default=".tollway", type=Path)


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


def run_admin(ns: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    command = ns.command
    try:
        args = collect_args(ns, command.args)
    except (ValueError, json.JSONDecodeError) as exc:
        err.write(f"tollway admin: {exc}\n")
        return 2
    try:
        envelope = _transport(ns).send(command.name, args)
    except TransportError as exc:
        err.write(f"tollway admin: {exc}\n")
        return 1
    if ns.json:
        out.write(json.dumps(envelope, indent=2) + "\n")
    elif envelope.get("ok"):
        render(envelope.get("result"), out)
    else:
        error = envelope.get("error", {})
        err.write(f"error ({error.get('code')}): {error.get('message')}\n")
    if envelope.get("ok"):
        _save_export(ns, envelope, err)
        return 0
    return 2 if envelope.get("error", {}).get("code") in USAGE_ERRORS else 1


def _save_export(ns: argparse.Namespace, envelope: dict[str, Any], err: Any) -> None:
    """An export's presigned link is downloaded for the local stack (or wherever --download-dir says)."""
    from tollway.exports import save_export

    local = not (ns.stack or ns.function)
    if ns.download_dir is not None or local:
        saved = save_export(envelope.get("result"), ns.download_dir or Path.cwd())
        if saved is not None:
            err.write(f"saved {saved}\n")


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.cmd == "local":
        from tollway_local.stack import run_local  # local-only: never imported on Lambda

        return run_local(host=ns.host, port=ns.port, state_dir=ns.state_dir)
    return run_admin(ns)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
