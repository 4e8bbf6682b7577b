"""What Lambda gets is what the tests ran against: the deployment requirements files pin exactly the runtime
dependencies of pyproject.toml, each in one place (the CommonLayer or the relay function)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]

REQUIREMENTS = {
    "layer": ROOT / "layers/common/requirements.txt",
    "relay": ROOT / "functions/relay/requirements.txt",
    "admin": ROOT / "functions/admin/requirements.txt",
    "mj_callback": ROOT / "functions/mj_callback/requirements.txt",
}

# Where each runtime dependency ships. The layer is shared by all three functions; the ASGI server and
# framework only matter to the relay.
SPLIT = {
    "layer": {"aws-lambda-powertools", "boto3", "httpx2", "orjson", "pydantic", "pydantic-settings", "sniffio"},
    "relay": {
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "greenlet",
        "python-multipart",
        "argon2-cffi",
        "argon2-cffi-bindings",
        "cffi",
        "pycparser",
    },
    "admin": set(),
    "mj_callback": set(),
}


def pyproject_dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(req.name): req for req in requirements}


def read_requirements(path: Path) -> list[Requirement]:
    found = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            assert not line.startswith("-"), f"{path.name}: pip options are not allowed here: {line}"
            found.append(Requirement(line))
    return found


def test_pyproject_runtime_pins_are_exact() -> None:
    for name, req in pyproject_dependencies().items():
        (spec,) = req.specifier
        assert spec.operator == "==", name


@pytest.mark.parametrize("where", sorted(REQUIREMENTS))
def test_every_pin_equals_the_pyproject_pin(where: str) -> None:
    pinned = pyproject_dependencies()
    for req in read_requirements(REQUIREMENTS[where]):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{where}: {name} is not a runtime dependency in pyproject.toml"
        assert req.specifier == pinned[name].specifier, f"{where}: {req} != {pinned[name]}"
        assert req.marker == pinned[name].marker, f"{where}: {req} != {pinned[name]}"
        assert not req.extras or req.extras == pinned[name].extras, f"{where}: {req}"


def test_requirements_cover_the_runtime_dependencies_once() -> None:
    shipped: dict[str, str] = {}
    for where, path in REQUIREMENTS.items():
        for req in read_requirements(path):
            name = canonicalize_name(req.name)
            assert name not in shipped, f"{name} is in both {shipped[name]} and {where}"
            shipped[name] = where
    assert set(shipped) == set(pyproject_dependencies())


@pytest.mark.parametrize("where", sorted(REQUIREMENTS))
def test_each_dependency_ships_where_it_is_needed(where: str) -> None:
    assert {canonicalize_name(req.name) for req in read_requirements(REQUIREMENTS[where])} == SPLIT[where]
