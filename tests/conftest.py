"""Fixtures shared by every test: settings, stores (memory and moto in-process), accounts and keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cpu_log, shared_tls
from tests.support.factories import Stores, memory_stores, moto_stores

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

# Never reach real AWS from a test, whatever the developer's environment holds.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)


def pytest_configure(config: pytest.Config) -> None:
    shared_tls.install()  # every httpx client of a test process shares one default TLS context
    cpu_log.register(config)  # opt-in: TOLLWAY_TEST_CPU_LOG=<file> logs CPU per test file


@pytest.fixture
def memory() -> Stores:
    return memory_stores()


@pytest.fixture
def moto() -> Iterator[Stores]:
    with moto_stores(TEMPLATE) as stores:
        yield stores


@pytest.fixture(params=["memory", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    """Both implementations of the store contracts: the same tests must pass on each."""
    if request.param == "memory":
        yield memory_stores()
    else:
        with moto_stores(TEMPLATE) as s:
            yield s


# Parallel runs (`make test` = `pytest -n 2 --dist loadgroup`): each xdist worker is its own process with
# its own session fixtures, so each starts its own local stack on free ports. The Midjourney, Suno and
# console suites share a stack of their own each (started with extra settings): keeping each suite on one
# worker starts that stack once rather than once per worker. Every other integration file is one work
# unit too, so its module fixtures (a browser, racing emulators, mock upstreams) start once, not once per
# worker that happens to run one of its tests. Unit tests stay single units: they fill the workers' tails.
_SUITE_GROUPS = {"mj", "suno", "console"}


# tryfirst: xdist's own hook (which reads the marks into the work units) must see them.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    integration = ROOT / "tests" / "integration"
    for item in items:
        path = Path(str(item.path))
        if integration in path.parents:
            relative = path.relative_to(integration)
            suite = relative.parts[0]
            group = f"integration-{suite}" if suite in _SUITE_GROUPS else f"integration-{relative.as_posix()}"
            item.add_marker(pytest.mark.xdist_group(group))
