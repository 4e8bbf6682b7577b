"""Run the emulator as a child process: for the local stack, the integration tests and the benchmark.

    with EmulatorProcess(state_dir, Path("template.yaml")) as emulator:
        ddb = emulator.client("dynamodb")
        ...

The child's stderr goes to `<state_dir>/emulator/emulator.log` (appended); a start failure raises
`EmulatorStartError` quoting what this start wrote there. The child stops cleanly (final snapshot)
on `stop()`, and also by itself if this process dies, because it watches its stdin pipe.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from tollway_local.emulator.clients import DEFAULT_REGION, client, environment, session_kwargs

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["EmulatorProcess", "EmulatorStartError"]

LOG_FILE = "emulator.log"
_LOG_TAIL = 4000


class EmulatorStartError(RuntimeError):
    """The emulator process did not report ready (it exited, printed garbage, or took too long)."""


class EmulatorProcess:
    """A `python -m tollway_local.emulator` child bound to one state directory."""

    def __init__(
        self,
        state_dir: Path,
        template: Path | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cpu: int | None = None,
        region: str = DEFAULT_REGION,
        start_timeout: float = 60.0,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.template = Path(template) if template is not None else None
        self.host, self.port, self.cpu, self.region = host, port, cpu, region
        self.start_timeout = start_timeout
        self.extra_args = extra_args
        self.env = env
        self.log_path = self.state_dir / "emulator" / LOG_FILE
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self._endpoint: str | None = None

    # ---- lifecycle ----

    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "tollway_local.emulator", "--host", self.host, "--port", str(self.port)]
        argv += ["--state-dir", str(self.state_dir), "--region", self.region, "--exit-on-stdin-eof"]
        if self.template is not None:
            argv += ["--template", str(self.template)]
        if self.cpu is not None:
            argv += ["--cpu", str(self.cpu)]
        return argv + list(self.extra_args)

    def start(self) -> Self:
        """Spawn the child and wait for its ready line.

        Raises:
            EmulatorStartError: the child exited, or did not report ready within `start_timeout`.
        """
        if self._proc is not None:
            raise RuntimeError("already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed in stop()
        self._log_offset = self._log.tell()
        child_env = dict(os.environ if self.env is None else self.env)
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env,
        )
        try:
            self._endpoint = self._wait_ready()
        except BaseException:
            self._terminate()
            raise
        return self

    def _wait_ready(self) -> str:
        proc = self._proc
        assert proc is not None  # noqa: S101
        assert proc.stdout is not None  # noqa: S101
        deadline = time.monotonic() + self.start_timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EmulatorStartError(self._explain(f"not ready after {self.start_timeout:.0f} s"))
                if not selector.select(remaining):
                    continue
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    code = proc.wait(timeout=10)
                    raise EmulatorStartError(self._explain(f"exited with status {code} before it was ready"))
                buffer += chunk
        proc.stdout.close()  # the child sends nothing else to stdout
        line = buffer.split(b"\n", 1)[0]
        try:
            ready = json.loads(line)
            if ready.get("ready") is not True:
                raise ValueError("ready is not true")
            return str(ready["endpoint"])
        except (ValueError, KeyError, AttributeError) as exc:
            raise EmulatorStartError(self._explain(f"unexpected first line {line[:200]!r}")) from exc

    def _explain(self, what: str) -> str:
        return f"emulator {what}; its stderr ({self.log_path}):\n{self.stderr_tail()}"

    def stderr_tail(self, limit: int = _LOG_TAIL) -> str:
        """What the child wrote to stderr since this start (the last `limit` characters)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return text[-limit:] if text else "(empty)"

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the child writes its final snapshot) and wait. Returns the exit status."""
        proc = self._proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._close()
        return code

    def kill(self) -> int:
        """SIGKILL: no final snapshot (what a crash looks like). Returns the exit status."""
        proc = self._proc
        if proc is None:
            return 0
        proc.kill()
        code = proc.wait()
        self._close()
        return code

    def _terminate(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close()

    def _close(self) -> None:
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        if self._log is not None:
            self._log.close()
        self._proc = None
        self._log = None

    def __enter__(self) -> Self:
        return self.start() if self._proc is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ---- talking to it ----

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the emulator has not been started")
        return self._endpoint

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the emulator is not running")
        return self._proc.pid

    def boto3_session_kwargs(self) -> dict[str, str]:
        """Keyword arguments for `boto3.Session(...)`: dummy credentials and the region."""
        return session_kwargs(self.region)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for `service` pointed at the emulator (see `clients.client` for options)."""
        return client(service, self.endpoint, region=self.region, **kwargs)

    def environment(self) -> dict[str, str]:
        """Environment variables that point boto3 in another process at the emulator."""
        return environment(self.endpoint, self.region)

    def stats(self) -> dict[str, Any]:
        """The emulator's `/_emulator/stats`: request counts, RSS, CPU, tracked moto instances."""
        return self._call("GET", "/_emulator/stats")

    def gc_freeze(self) -> dict[str, Any]:
        """`gc.collect(); gc.freeze()` in the emulator, e.g. after seeding a large data set."""
        return self._call("POST", "/_emulator/gc-freeze")

    def _call(self, method: str, path: str) -> dict[str, Any]:
        url = self.endpoint + path
        if not url.startswith("http://"):
            raise ValueError(f"unexpected endpoint {url}")
        request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - checked: http:// only
            payload: dict[str, Any] = json.loads(response.read())
        return payload
