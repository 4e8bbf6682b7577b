"""The emulator: moto behind one lock on a threaded werkzeug server, with snapshots.

Start-up order: bind the socket (port 0 picks a free one) and serve, create the template's resources
through the API (boto3 against ourselves), restore the snapshot if there is one, collect and freeze
the GC, then report ready. A background thread writes a snapshot at most every
`snapshot_interval` seconds while mutating requests keep arriving; `stop()` writes a final one while
still holding the request lock, so no write is acknowledged after the last snapshot.

moto's backends are process-global: one `EmulatorServer` per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import math
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from tollway_local.emulator import cpupaths, tracking, transactions
from tollway_local.emulator.backends import Backends
from tollway_local.emulator.clients import DEFAULT_REGION, client
from tollway_local.emulator.faults import FaultPlan, Faults
from tollway_local.emulator.httpserver import make_http_server
from tollway_local.emulator.resources import create_resources
from tollway_local.emulator.restore import RestoreStats, SnapshotError, read_snapshot, restore_snapshot
from tollway_local.emulator.snapshot import Snapshotter
from tollway_local.emulator.template import load_template
from tollway_local.emulator.wsgi import SerialisedMotoApp, freeze_gc

if TYPE_CHECKING:
    from pathlib import Path

    from tollway_local.emulator.classify import Effect

__all__ = ["EmulatorServer", "StateDirBusyError"]

EMULATOR_DIR = "emulator"
LOCK_FILE = "lock"


def _release_memory() -> None:
    """Collect the restore's garbage and hand freed heap pages back to the OS (glibc only)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class StateDirBusyError(RuntimeError):
    """Another emulator process holds this state directory."""


class EmulatorServer:
    """moto serialised, on a socket, with its state in `state_dir/emulator/` (None: memory only)."""

    def __init__(
        self,
        *,
        template: Path | None,
        state_dir: Path | None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        snapshot_interval: float = 1.0,
        copy_tables: bool = False,
        fast_paths: bool = True,
        untrack: bool = True,
        gc_freeze: bool = True,
        on_corrupt: str = "fail",
        log: IO[str] | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        if on_corrupt not in ("fail", "move-aside"):
            raise ValueError("on_corrupt is 'fail' or 'move-aside'")
        self.template = template
        self.directory = state_dir / EMULATOR_DIR if state_dir is not None else None
        self.host, self.port, self.region = host, port, region
        self.snapshot_interval = snapshot_interval
        self.copy_tables = copy_tables
        self.fast_paths = fast_paths
        self.gc_freeze = gc_freeze
        self.on_corrupt = on_corrupt
        self.log = log if log is not None else sys.stderr
        self.backends = Backends(region=region)
        self.snapshotter = Snapshotter(self.directory, self.backends) if self.directory is not None else None
        self.app = SerialisedMotoApp(
            untrack=untrack,
            on_effect=self._on_effect,
            extra_stats=self._snapshot_stats,
            faults=Faults(faults or FaultPlan()),
        )
        self.restored: RestoreStats | None = None
        self._server: Any = None
        self._serve_thread: threading.Thread | None = None
        self._snap_thread: threading.Thread | None = None
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._writer = threading.Lock()  # one capture+write at a time
        self._lock_file: IO[bytes] | None = None
        self.endpoint = ""

    # ---- lifecycle ----

    def start(self) -> str:
        """Serve, create resources, restore; returns the endpoint URL once ready for clients.

        Raises:
            TemplateError: the template cannot be read.
            StateDirBusyError: another emulator uses the state directory.
            SnapshotError: the snapshot cannot be restored (see `on_corrupt` for unreadable files).
        """
        template = load_template(self.template) if self.template is not None else None
        self._take_state_dir()
        self._server = make_http_server(self.host, self.port, self.app)
        self.port = int(self._server.server_port)
        # Some moto responses build URLs from MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self.endpoint = f"http://{self.host}:{self.port}"
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="emulator-http", daemon=True
        )
        self._serve_thread.start()
        if not self.copy_tables:
            transactions.install()  # before any request: see transactions.py
        if self.fast_paths:
            cpupaths.install()  # same answers, less CPU: see cpupaths.py
        if self.snapshotter is not None:
            tracking.install()
            tracking.activate(self.snapshotter.changes)
        if template is not None:
            clients = {name: client(name, self.endpoint, region=self.region) for name in ("dynamodb", "s3", "sns")}
            try:
                create_resources(clients, template)
            finally:
                for service_client in clients.values():
                    service_client.close()
        self._restore()
        _release_memory()
        if self.gc_freeze:
            # moto's state is long-lived: keep the cyclic GC from walking it again and again.
            freeze_gc(collect=False)  # _release_memory() has just collected
        if self.snapshotter is not None:
            self._snap_thread = threading.Thread(target=self._snapshot_loop, name="emulator-snapshot", daemon=True)
            self._snap_thread.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and write the final snapshot (if anything changed).

        Leaves the request lock held: no request is answered after the final snapshot, and this
        object cannot be started again (moto's state is process-global anyway).
        """
        self._stopping.set()
        self._dirty.set()
        if self._snap_thread is not None:
            self._snap_thread.join()
        # Same order as snapshot_now (writer, then request lock), so the two cannot deadlock.
        self._writer.acquire()
        self.app.lock.acquire()
        if self._server is not None:
            self._server.shutdown()
        if self.snapshotter is not None and self.snapshotter.dirty:
            self.snapshotter.write(self.snapshotter.capture(full=True))
        tracking.activate(None)
        if self._lock_file is not None:  # nothing more will be written: another emulator may take over
            self._lock_file.close()
            self._lock_file = None

    # ---- state dir, restore ----

    def _take_state_dir(self) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.directory / LOCK_FILE, "ab")  # held (and flock-ed) for the process lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise StateDirBusyError(f"another emulator is using {self.directory}") from exc
        self._lock_file = handle

    def _restore(self) -> None:
        snapshotter = self.snapshotter
        if snapshotter is None:
            return
        with self.app.lock:
            try:
                snapshot = read_snapshot(snapshotter.path)
            except SnapshotError:
                if self.on_corrupt != "move-aside":
                    raise
                self._move_aside(snapshotter.path)
                snapshot = None
            if snapshot is not None:
                self.restored = restore_snapshot(snapshot, self.backends)
            # moto now matches the file (or there is no file, and only the template's resources):
            # prime the caches so the next snapshot only re-reads what changes from here on.
            snapshotter.prime(
                snapshotter.capture(full=True),
                restored_blobs=self.restored.blobs if self.restored is not None else (),
            )

    def _move_aside(self, path: Path) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        os.replace(path, target)
        print(f"emulator: {path} could not be read; moved it to {target} and started empty", file=self.log)

    # ---- snapshots ----

    def _on_effect(self, effect: Effect) -> None:
        if self.snapshotter is not None:
            self.snapshotter.note(effect)
            self._dirty.set()

    def _snapshot_loop(self) -> None:
        last = -math.inf  # the first change is written at once
        while not self._stopping.is_set():
            self._dirty.wait()
            wait = last + self.snapshot_interval - time.monotonic()
            if self._stopping.is_set() or (wait > 0 and self._stopping.wait(wait)):
                return
            self._dirty.clear()
            try:
                if self.snapshot_now():
                    last = time.monotonic()
            except Exception as exc:  # keep serving; the next round retries with a full capture
                print(f"emulator: snapshot failed: {exc!r}", file=self.log, flush=True)
                self._dirty.set()
                last = time.monotonic()

    def snapshot_now(self, *, full: bool = False) -> bool:
        """Write a snapshot now if anything changed (or `full`). Returns whether one was written."""
        snapshotter = self.snapshotter
        if snapshotter is None or self._stopping.is_set():
            return False
        with self._writer:
            with self.app.lock:
                if not (full or snapshotter.dirty):
                    return False
                capture = snapshotter.capture(full=full)
            snapshotter.write(capture)
        return True

    def _snapshot_stats(self) -> dict[str, Any]:
        connections = {
            "connections_opened": getattr(self._server, "connections_opened", 0),
            "transactions": transactions.counts() if transactions.installed() else None,
            "fast_paths": cpupaths.counts() if cpupaths.installed() else None,
        }
        snapshotter = self.snapshotter
        if snapshotter is None:
            return {**connections, "snapshots": None}
        last = snapshotter.last
        return {
            **connections,
            "snapshots": {
                "written": snapshotter.snapshots_written,
                "dirty": snapshotter.dirty,
                "last_bytes": last.bytes if last else None,
                "last_items": last.items if last else None,
                "last_capture_s": last.capture_s if last else None,
                "last_write_s": last.write_s if last else None,
            },
            "restored": None
            if self.restored is None
            else {
                "items": self.restored.items,
                "read_s": self.restored.read_s,
                "apply_s": self.restored.apply_s,
            },
        }
