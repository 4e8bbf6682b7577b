"""The Makefile as a new operator uses it: ``make local PORT=…`` starts the stack on that port, and the
first install says what it is doing (each package as pip fetches it) instead of sitting silent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no `make` on this machine")


def _dry_run(*args: str) -> str:
    """What ``make`` would run (``-n``: nothing is run; ``-B``: as if nothing were installed yet)."""
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def test_make_local_takes_a_port() -> None:
    assert "tollway local --port 8092" in _dry_run("local", "PORT=8092")
    assert "tollway local --port 8080" in _dry_run("local")


def test_the_first_install_shows_its_progress() -> None:
    recipe = _dry_run("-B", ".venv/.installed-stamp")
    assert "about a minute" in recipe  # how long, before it starts
    assert "pip install" in recipe and "--progress-bar off" in recipe
    assert "Collecting" in recipe  # each package, as pip fetches it
