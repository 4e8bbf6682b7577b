"""Cold-start figures: import time of each function's entry module, and the built package sizes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["ENTRY_MODULES", "import_times", "package_sizes"]

ENTRY_MODULES = ("relay.app", "admin_api.handler", "mj_callback.handler")


def _run(code: list[str], env: dict[str, str], cpu: int | None, rt: int | None = None) -> tuple[float, str]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if rt is not None:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rt))

    start = time.perf_counter()
    done = subprocess.run([sys.executable, *code], env=env, capture_output=True, text=True, check=False, preexec_fn=pin)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{code} failed: {done.stderr[-2000:]}")
    return elapsed, done.stderr


def _entries(stderr: str) -> list[tuple[int, str, int]]:
    """(depth, name, cumulative µs) from `-X importtime` output (`import time: self | cumulative | name`)."""
    out: list[tuple[int, str, int]] = []
    for line in stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        out.append(((len(name) - len(name.lstrip())) // 2, name.strip(), int(parts[1].strip())))
    return out


def _cumulative_us(stderr: str, module: str) -> int | None:
    return next((cum for _, name, cum in _entries(stderr) if name == module), None)


def _top_children(stderr: str, module: str, limit: int = 8) -> dict[str, float]:
    """The slowest imports made directly by `module` (ms, cumulative)."""
    entries = _entries(stderr)
    index = next((i for i, (_, name, _) in enumerate(entries) if name == module), None)
    if index is None:
        return {}
    depth = entries[index][0]
    children: list[tuple[str, int]] = []
    for level, name, cum in reversed(entries[:index]):
        if level <= depth:
            break
        if level == depth + 1:
            children.append((name, cum))
    children.sort(key=lambda c: -c[1])
    return {name: cum / 1000 for name, cum in children[:limit]}


def import_times(
    env: dict[str, str], *, repeats: int = 5, cpu: int | None = 1, rt_priority: int | None = None
) -> dict[str, Any]:
    """Best of `repeats` fresh interpreters: `-X importtime` cumulative time of each entry module, and
    the wall time of `python -c 'import m'` minus that of `python -c 'pass'` (interpreter start)."""
    baseline = min(_run(["-c", "pass"], env, cpu, rt_priority)[0] for _ in range(repeats))
    out: dict[str, Any] = {"interpreter_start_ms": baseline * 1000, "python": sys.version.split()[0], "modules": {}}
    for module in ENTRY_MODULES:
        walls: list[float] = []
        best: tuple[int, str] | None = None
        for _ in range(repeats):
            wall, _ = _run(["-c", f"import {module}"], env, cpu, rt_priority)
            walls.append(wall)
            _, stderr = _run(["-X", "importtime", "-c", f"import {module}"], env, cpu, rt_priority)
            found = _cumulative_us(stderr, module)
            if found is not None and (best is None or found < best[0]):
                best = (found, stderr)
        out["modules"][module] = {
            "importtime_ms": best[0] / 1000 if best else None,
            "wall_minus_start_ms": (min(walls) - baseline) * 1000,
            "slowest_direct_imports_ms": _top_children(best[1], module) if best else {},
        }
    return out


def _tree(path: Path) -> tuple[int, int]:
    size = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            with_path = Path(root) / name
            if with_path.is_file() and not with_path.is_symlink():
                size += with_path.stat().st_size
                files += 1
    return size, files


def _zipped(path: Path) -> int:
    """Size of a deflate zip of `path` (what a Lambda deployment package is), built in /tmp and removed."""
    target = Path("/tmp") / f"bench-size-{os.getpid()}-{path.name}.zip"  # noqa: S108 - scratch file, removed
    try:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    file = Path(root) / name
                    if file.is_file() and not file.is_symlink():
                        archive.write(file, file.relative_to(path))
        return target.stat().st_size
    finally:
        target.unlink(missing_ok=True)


def package_sizes(build_dir: Path) -> dict[str, Any]:
    """du of each built function and layer under `.aws-sam/build`, its zip size and largest parts."""
    if not build_dir.is_dir():
        return {"available": False, "note": "run sam build first (make sam-check or sam build)"}
    out: dict[str, Any] = {"available": True, "build_dir": str(build_dir), "artifacts": {}}
    for child in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        size, files = _tree(child)
        root = child / "python" if (child / "python").is_dir() else child
        parts = sorted(
            (
                (p.name, _tree(p)[0] if p.is_dir() else p.stat().st_size)
                for p in root.iterdir()
                if "dist-info" not in p.name
            ),
            key=lambda item: -item[1],
        )
        out["artifacts"][child.name] = {
            "bytes": size,
            "files": files,
            "zip_bytes": _zipped(child),
            "largest": dict(parts[:6]),
        }
    build_toml = build_dir.parent / "build.toml"
    if build_toml.exists():
        text = build_toml.read_text()
        out["architecture"] = "arm64" if 'architecture = "arm64"' in text else "see build.toml"
    return out
