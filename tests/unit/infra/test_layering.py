"""The layer holds what Lambda runs; the `tollway` command (cli/) and the local stack (local/) depend on
it, never the reverse."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = [
    ROOT / "layers/common/python",
    ROOT / "functions/relay",
    ROOT / "functions/admin",
    ROOT / "functions/mj_callback",
]
IMPORT = re.compile(r"^\s*(?:from|import)\s+(tollway_cli|tollway_local|tollway\.cli)\b", re.MULTILINE)


def test_shipped_code_never_imports_the_cli_or_the_local_stack() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for root in SHIPPED
        for path in root.rglob("*.py")
        for match in IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
    assert not (ROOT / "layers/common/python/tollway/cli").exists()


def test_the_cli_is_its_own_project_with_the_tollway_command() -> None:
    cli = tomllib.loads((ROOT / "cli/pyproject.toml").read_text())
    assert cli["project"]["scripts"] == {"tollway": "tollway_cli.main:main"}
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert cli["project"]["dependencies"] == [f"tollway=={root['project']['version']}"]
    assert "scripts" not in root["project"]  # one owner of the console script
    assert "cli" not in root["tool"]["setuptools"]["packages"]["find"]["where"]
    assert "-e ./cli" in (ROOT / "Makefile").read_text()
