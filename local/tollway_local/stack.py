"""``tollway local``: the whole product on 127.0.0.1 with no AWS account.

One process serves the relay, the admin route and the Midjourney callback route on one port; the
emulator (DynamoDB/S3/Secrets/SNS, requests serialised, tables from template.yaml, state snapshotted
under the state folder) and the mock upstream run as child processes. The relay and admin code paths
are the ones that run on AWS; only endpoints differ.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import SecretStr
from tollway.money import format_usd
from tollway.services import LazyServices, Services
from tollway.settings import Settings

if TYPE_CHECKING:
    import uvicorn

__all__ = ["PortInUse", "find_template", "run_local"]


class PortInUse(RuntimeError):
    """The port ``tollway local`` was asked to listen on is taken (or not allowed)."""


def find_template() -> Path:
    """template.yaml of this checkout (the emulator builds its tables from it)."""
    for candidate in (Path.cwd() / "template.yaml", Path(__file__).resolve().parents[2] / "template.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("template.yaml not found: run `tollway local` from the tollway checkout")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}). Another program (perhaps another "
            f"`tollway local`) is using port {port}: stop it, or pick another port with "
            f"`tollway local --port {port + 1 if port else 8081}` (or `make local PORT={port + 1 if port else 8081}`)."
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def _banner(out: TextIO, url: str, key: str, balance: int, state_dir: Path, openai: bool, claude: bool) -> None:
    upstreams = "built-in mock (OpenAI, Claude and Bedrock)" + (" + OpenAI (OPENAI_API_KEY)" if openai else "")
    upstreams += " + Anthropic (ANTHROPIC_API_KEY)" if claude else ""
    out.write(
        "\n"
        "tollway local stack is running\n"
        f"  OpenAI base URL   {url}/v1\n"
        f"  Claude base URL   {url}   (ANTHROPIC_BASE_URL for Claude Code and the anthropic SDK)\n"
        f"  customer console  {url}/   (sign-up mail is printed here)\n"
        f"  upstreams         {upstreams}\n"
        f"  demo account      acct_demo, balance ${format_usd(balance)}\n"
        f"  demo API key      {key}\n"
        f"  operator commands tollway admin --help   (state in {state_dir})\n"
        "  stop with Ctrl-C\n\n"
    )
    out.flush()


def _topic_arn(endpoint: str, name: str) -> str:
    """The ARN of the emulator's topic ``name`` (created from the template; create_topic is idempotent)."""
    import boto3

    sns = boto3.session.Session().client("sns", endpoint_url=endpoint, region_name="us-east-1")
    return str(sns.create_topic(Name=name)["TopicArn"])


def _announcing_server(config: uvicorn.Config, announce: Callable[[], None]) -> uvicorn.Server:
    """uvicorn's server, printing the banner once it serves — after it has taken over SIGINT and
    SIGTERM, so a Ctrl-C (or a test's stop) right after the banner always shuts everything down."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                announce()

    return Server(config)


def run_local(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    state_dir: Path = Path(".tollway"),
    emulator_port: int = 0,
    demo_key: str | None = None,
) -> int:
    """Serve until interrupted. ``emulator_port`` fixes the emulator's port (0: any free one), so other
    clients — `sam local` containers — can reach the same store; ``demo_key`` makes that the demo
    account's key (the ready events in events/relay/ carry one)."""
    import admin_api.handler as admin_handler
    import mj_callback.handler as callback_handler
    import uvicorn
    from relay.app import create_app

    from tollway_local.bootstrap import bootstrap, ensure_admin_secret
    from tollway_local.emulator import EmulatorProcess
    from tollway_local.gateway import local_routes
    from tollway_local.mock import MockConfig, MockProcess

    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The emulator accepts any credentials; boto3 only needs some to sign with.
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    admin_secret = ensure_admin_secret(state_dir)
    mock_config = MockConfig(
        latency_ms=_float_env("TOLLWAY_MOCK_LATENCY_MS", 300.0),
        tokens_per_s=_float_env("TOLLWAY_MOCK_TOKENS_PER_S", 30.0),
    )
    info_file = state_dir / "local.json"
    sock = _bind(host, port)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
    try:
        emulator_process = EmulatorProcess(state_dir, find_template(), port=emulator_port)
        with emulator_process as emulator, MockProcess(mock_config) as mock:
            settings = Settings(
                aws_endpoint_url=emulator.endpoint,
                admin_secret=SecretStr(admin_secret),
                # Midjourney: callbacks and image links point here; image copies go to the emulator's
                # bucket of the template's ExportBucket (local buckets are named by lower-cased logical id).
                mj_public_base_url=os.environ.get("TOLLWAY_MJ_PUBLIC_BASE_URL") or url,
                mj_image_bucket=os.environ.get("TOLLWAY_MJ_IMAGE_BUCKET") or "exportbucket",
                # Operator surface: exports go to the emulator's ExportBucket, reports to its AlertsTopic.
                export_bucket="exportbucket",
                alerts_topic_arn=_topic_arn(emulator.endpoint, "AlertsTopic"),
            )
            services = Services.on_aws(settings)
            boot = bootstrap(services, state_dir, mock.base_url, int(time.time() * 1000), demo_key=demo_key)
            admin_handler.configure(services)
            callback_handler.configure(services)
            app = create_app(
                settings,
                LazyServices(lambda: services),
                extra_routes=local_routes(admin_secret, admin_handler.lambda_handler, callback_handler.lambda_handler),
            )
            info_file.write_text(
                json.dumps({"url": url, "emulator": emulator.endpoint, "mock": mock.url, "pid": os.getpid()})
            )
            balance = services.ledger.balance(boot.demo_account_id) or 0
            banner = functools.partial(
                _banner,
                sys.stdout,
                url,
                boot.demo_key,
                balance,
                state_dir,
                bool(os.environ.get("OPENAI_API_KEY")),
                bool(os.environ.get("ANTHROPIC_API_KEY")),
            )
            config = uvicorn.Config(
                app,
                loop="uvloop",
                http="httptools",
                access_log=False,
                log_level="warning",
                timeout_keep_alive=75,
                lifespan="on",
            )
            try:
                _announcing_server(config, banner).run(sockets=[sock])
            except KeyboardInterrupt:
                # uvicorn shut down gracefully on the Ctrl-C, then raised it again for its caller to see:
                # for `tollway local` that is the normal end (exit 0, no traceback), and the emulator and
                # the mock are stopped by the `with` blocks as on any other exit.
                pass
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            info_file.unlink()
    return 0
