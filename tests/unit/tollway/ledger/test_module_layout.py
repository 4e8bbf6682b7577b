"""The ledger and account stores' module layout (issue 10): no import cycles among them — type-only and
function-local imports included, since a name imported is a dependency — and the ledger split by
movement, each module small."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4] / "layers" / "common" / "python"
PACKAGES = ("tollway/ledger", "tollway/accounts")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = _module(path)
            edges: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    edges.add(node.module)
                    edges.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    edges.update(alias.name for alias in node.names)
            graph[name] = edges
    return {name: {e for e in edges if e in graph and e != name} for name, edges in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                found.append([*path[path.index(nxt) :], nxt])
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    return found


def test_no_import_cycles_among_the_ledger_and_account_stores() -> None:
    graph = _graph()
    assert "tollway.accounts.keys_dynamo" in graph and "tollway.ledger.reserve" in graph
    assert _cycles(graph) == []


def test_the_dynamodb_ledger_is_split_by_movement() -> None:
    ledger = ROOT / "tollway" / "ledger"
    for name in ("reserve", "settle", "credit", "history", "audit", "codecs"):
        assert (ledger / f"{name}.py").is_file(), name
    for path in ledger.glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name
