"""The runner: `python -m tollway_local.mock --host 127.0.0.1 --port 0 [--latency-ms 300] [--tokens-per-s 30] ...`.

Prints exactly one line on stdout once listening — `{"ready": true, "url": "http://127.0.0.1:PORT"}` — and
logs (warnings and errors only) to stderr. SIGTERM / Ctrl+C shut it down gracefully.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import TYPE_CHECKING

import uvicorn

from tollway_local.mock.app import create_mock_app
from tollway_local.mock.config import MockConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

#: How long a shutdown waits for open streams before cancelling them.
GRACEFUL_SHUTDOWN_S = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tollway_local.mock", description="tollway's mock upstream")
    default = MockConfig()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency-ms", type=float, default=default.latency_ms)
    parser.add_argument("--tokens-per-s", type=float, default=default.tokens_per_s, help="<= 0 or inf: unpaced")
    parser.add_argument("--api-key", default=None, help="require exactly this key (default: any non-empty key)")
    parser.add_argument("--default-completion-tokens", type=int, default=default.default_completion_tokens)
    parser.add_argument("--models", default=",".join(default.models), help="comma-separated model ids")
    parser.add_argument(
        "--anthropic-models",
        default=",".join(default.anthropic_models),
        help="comma-separated model ids listed to requests with anthropic-version",
    )
    parser.add_argument("--faults", default="", help="fault modes for every request, e.g. http529 or no_usage,cut")
    parser.add_argument("--log-size", type=int, default=default.log_size)
    parser.add_argument("--max-stall-s", type=float, default=default.max_stall_s)
    parser.add_argument("--cpus", default=None, help="pin this process to these CPUs, e.g. 1 or 0,2 (Linux)")
    parser.add_argument("--log-level", default="warning")
    return parser


def config_from_args(args: argparse.Namespace) -> MockConfig:
    return MockConfig(
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        anthropic_models=tuple(m.strip() for m in args.anthropic_models.split(",") if m.strip()),
        faults=tuple(f.strip() for f in args.faults.split(",") if f.strip()),
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        tokens_per_s=args.tokens_per_s,
        default_completion_tokens=args.default_completion_tokens,
        log_size=args.log_size,
        max_stall_s=args.max_stall_s,
    )


def config_to_argv(config: MockConfig) -> list[str]:
    """The runner arguments that reproduce `config` (`extra_headers` and `log_body_max_bytes` do not pass)."""
    argv = [
        "--latency-ms",
        repr(config.latency_ms),
        "--tokens-per-s",
        repr(config.tokens_per_s),
        "--default-completion-tokens",
        str(config.default_completion_tokens),
        "--models",
        ",".join(config.models),
        "--anthropic-models",
        ",".join(config.anthropic_models),
        "--log-size",
        str(config.log_size),
        "--max-stall-s",
        repr(config.max_stall_s),
    ]
    if config.api_key is not None:
        argv += ["--api-key", config.api_key]
    if config.faults:
        argv += ["--faults", ",".join(config.faults)]
    return argv


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _ReadyServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            sys.stdout.write(json.dumps({"ready": True, "url": self.url}) + "\n")
            sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    sock = bind_socket(args.host, args.port)
    server = _ReadyServer(
        uvicorn.Config(
            create_mock_app(config),
            lifespan="off",
            access_log=False,
            log_level=args.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        ),
        socket_url(sock),
    )
    server.run(sockets=[sock])
    return 0
