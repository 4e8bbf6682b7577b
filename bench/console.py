"""Console figures: the relay's import time before and after the console, the dashboard's page weight
and its time to first render on the local stack (a real headless chromium).

`python -m bench.console [--repeats N] [--base REV]` prints a table and the figures as JSON. "Before" is
the relay of REV (default: the merge base with main) exported to a scratch folder; "after" is this tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.coldstart import _cumulative_us, _run

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("layers/common/python", "functions/relay")
BUILD = (
    "from relay.app import create_app; from tollway.services import LazyServices; "
    "from tollway.settings import Settings; create_app(Settings(), LazyServices(lambda: None))"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _tree_of(rev: str, into: Path) -> dict[str, str]:
    archive = subprocess.run(["git", "archive", rev, *SOURCES], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(into / s) for s in SOURCES)
    return env


def import_figures(base: str, repeats: int) -> dict[str, Any]:
    """Best of `repeats` fresh interpreters: `-X importtime` of `relay.app` and of `relay.console` (what
    the console adds to a cold start), wall time of importing and building the app minus interpreter
    start, and how many modules a built app has loaded."""
    out: dict[str, Any] = {}
    count = BUILD + "; import sys; print(len(sys.modules))"
    with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
        here = dict(os.environ)
        here["PYTHONPATH"] = os.pathsep.join(str(ROOT / s) for s in SOURCES)
        for label, env in (("before", _tree_of(base, Path(scratch))), ("after", here)):
            _run(["-c", BUILD], env, None)  # compile the bytecode once
            start = min(_run(["-c", "pass"], env, None)[0] for _ in range(repeats))
            built = min(_run(["-c", BUILD], env, None)[0] for _ in range(repeats))
            cumulative: dict[str, list[int]] = {"relay.app": [], "relay.console": []}
            for _ in range(repeats):
                _, stderr = _run(["-X", "importtime", "-c", BUILD], env, None)
                for module, found in cumulative.items():
                    us = _cumulative_us(stderr, module)
                    if us is not None:
                        found.append(us)
            modules = subprocess.run([sys.executable, "-c", count], env=env, capture_output=True, text=True, check=True)
            out[label] = {
                "relay_app_importtime_ms": min(cumulative["relay.app"]) / 1000,
                "relay_console_importtime_ms": min(cumulative["relay.console"]) / 1000
                if cumulative["relay.console"]
                else 0.0,
                "import_and_build_ms": (built - start) * 1000,
                "modules_loaded": int(modules.stdout.strip()),
            }
    out["base"] = base
    return out


def page_figures(repeats: int) -> dict[str, Any]:
    """Bytes the dashboard transfers (cold cache, then warm) and its first paint / first render."""
    from playwright.sync_api import sync_playwright

    from tests.support.stack import LocalStack

    state = Path(tempfile.mkdtemp(prefix="bench-console-state-"))
    stack = LocalStack(state, env={"TOLLWAY_CONSOLE_ARGON2_MEMORY_KIB": "8192"}).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS, headless=True)
            context = browser.new_context(base_url=stack.url)
            page = context.new_page()
            page.goto("/#/signup")
            page.fill("input[name=email]", f"bench-{uuid.uuid4().hex[:8]}@example.com")
            page.fill("input[name=password]", "correct horse battery staple")
            page.click("#signup-submit")
            page.wait_for_selector("#balance")
            cookies = context.cookies()
            runs: list[dict[str, Any]] = []
            for attempt in range(repeats + 1):
                fresh = browser.new_context(base_url=stack.url)
                fresh.add_cookies(cookies)
                tab = fresh.new_page()
                sizes: dict[str, int] = {}
                tab.on("requestfinished", lambda r, s=sizes: s.__setitem__(r.url, r.sizes()["responseBodySize"]))
                started = time.perf_counter()
                tab.goto("/#/dashboard")
                tab.wait_for_selector("#balance")
                wall = (time.perf_counter() - started) * 1000
                tab.wait_for_load_state("networkidle")
                timing = tab.evaluate(
                    "({paint: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,"
                    " rendered: (performance.getEntriesByName('console-rendered:dashboard')[0] || {}).startTime})"
                )
                if attempt:  # the first visit warms the relay's caches
                    runs.append({"bytes": sum(sizes.values()), "requests": len(sizes), "wall_ms": wall, **timing})
                fresh.close()
            browser.close()
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)
    best = min(runs, key=lambda r: r["rendered"])
    return {
        "dashboard_bytes": runs[0]["bytes"],
        "dashboard_requests": runs[0]["requests"],
        "first_contentful_paint_ms": min(r["paint"] for r in runs),
        "first_render_ms": best["rendered"],
        "median_render_ms": sorted(r["rendered"] for r in runs)[len(runs) // 2],
        "runs": len(runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--base", default=None, help="git revision of the 'before' relay (default: merge base)")
    args = parser.parse_args()
    base = (
        args.base
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    figures = {"imports": import_figures(base, args.repeats), "dashboard": page_figures(args.repeats)}
    imports, dash = figures["imports"], figures["dashboard"]
    before, after = imports["before"], imports["after"]
    print(
        f"relay.app importtime  before {before['relay_app_importtime_ms']:.0f} ms   "
        f"after {after['relay_app_importtime_ms']:.0f} ms (relay.console {after['relay_console_importtime_ms']:.1f} ms)"
    )
    print(
        f"import + build app    before {before['import_and_build_ms']:.0f} ms   "
        f"after {after['import_and_build_ms']:.0f} ms"
    )
    print(f"modules loaded        before {before['modules_loaded']}   after {after['modules_loaded']}")
    print(f"dashboard         {dash['dashboard_bytes']:,} bytes in {dash['dashboard_requests']} requests")
    print(
        f"first paint       {dash['first_contentful_paint_ms']:.0f} ms   first render {dash['first_render_ms']:.0f} ms"
    )
    print(json.dumps(figures, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
