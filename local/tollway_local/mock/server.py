"""Running the mock for tests and benchmarks.

* `MockServer` — uvicorn in a background thread of this process (httpx's `serve_in_thread` pattern).
* `MockProcess` — the runner (`python -m tollway_local.mock`) as a subprocess, optionally pinned to CPUs.

Both bind 127.0.0.1 on a free port, expose `.url` (`http://127.0.0.1:PORT`) and `.base_url` (`.url + "/v1"`),
and read the inspection endpoints over HTTP, so `stats()` is consistent with what the server's loop sees.
Both default to `MockConfig.fast()` (no latency, unpaced tokens); pass a config for realistic pacing.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, Self

import httpx2
import uvicorn

from tollway_local.mock.app import create_mock_app
from tollway_local.mock.cli import bind_socket, config_to_argv, socket_url
from tollway_local.mock.config import MockConfig

if TYPE_CHECKING:
    from types import TracebackType

    from starlette.types import ASGIApp

StatsPredicate = Callable[[dict[str, Any]], bool]


class _Inspectable:
    """`stats()`, `reset()`, `wait_for()` and URL helpers over the mock's HTTP inspection endpoints."""

    _url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the mock upstream is not running")
        return self._url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`.url + "/v1"`), as an SDK or a channel wants it."""
        return f"{self.url}/v1"

    def fault_base_url(self, *modes: str) -> str:
        """A channel base URL whose every request gets `modes`, e.g. `fault_base_url("http500")`."""
        return f"{self.url}/fault/{','.join(modes)}/v1"

    def stats(self) -> dict[str, Any]:
        response = httpx2.get(f"{self.url}/_mock/stats", timeout=10.0, trust_env=False)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def reset(self) -> None:
        httpx2.post(f"{self.url}/_mock/reset", timeout=10.0, trust_env=False).raise_for_status()

    def wait_for(self, predicate: StatsPredicate, timeout_s: float = 10.0, poll_s: float = 0.01) -> dict[str, Any]:
        """Poll `stats()` until `predicate(stats)` holds; return those stats.

        Raises:
            TimeoutError: with the last stats, if it never held.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                summary = {k: v for k, v in stats.items() if k != "requests_log"}
                raise TimeoutError(f"mock stats never matched within {timeout_s}s: {summary}")
            time.sleep(poll_s)


class MockServer(_Inspectable):
    """The mock upstream (or any ASGI `app`) under uvicorn in a daemon thread on 127.0.0.1."""

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        app: ASGIApp | None = None,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.config = config if config is not None else MockConfig.fast()
        self.app = app if app is not None else create_mock_app(self.config)
        self.startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("MockServer already started")
        sock = bind_socket("127.0.0.1", 0)
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                lifespan="off",
                access_log=False,
                log_config=None,
                log_level="warning",
                timeout_graceful_shutdown=1,
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mock-upstream", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("the mock upstream did not start")
            time.sleep(0.001)
        self._url = socket_url(sock)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._url = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=15.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MockProcess(_Inspectable):
    """The runner as a subprocess (for the benchmark: its own process, optionally pinned to `cpus`)."""

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        cpus: Iterable[int] | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        stderr: int | IO[Any] | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.config = config if config is not None else MockConfig.fast()
        self.cpus = tuple(cpus) if cpus is not None else None
        self.python = python
        self.env = dict(env) if env is not None else None
        self.stderr = stderr
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the mock upstream is not running")
        return self.process.pid

    def argv(self) -> list[str]:
        argv = [self.python, "-m", "tollway_local.mock", "--host", "127.0.0.1", "--port", "0"]
        argv += config_to_argv(self.config)
        if self.cpus is not None:
            argv += ["--cpus", ",".join(str(cpu) for cpu in self.cpus)]
        return argv

    def start(self) -> Self:
        if self.process is not None:
            raise RuntimeError("MockProcess already started")
        process = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=self.stderr, env=self.env, text=True)
        self.process = process
        try:
            self._url = self._read_ready(process)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready(self, process: subprocess.Popen[str]) -> str:
        if process.stdout is None:
            raise RuntimeError("no stdout pipe")
        deadline = time.monotonic() + self.startup_timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    line = process.stdout.readline()
                    if not line:
                        break
                    ready = json.loads(line)
                    if ready.get("ready") is True:
                        return str(ready["url"])
                if process.poll() is not None:
                    break
        raise RuntimeError(f"the mock upstream process did not report ready (exit code {process.poll()})")

    def stop(self) -> None:
        process, self.process = self.process, None
        self._url = None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
