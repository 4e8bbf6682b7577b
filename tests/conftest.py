"""Fixtures shared by every test: settings, stores (memory and moto in-process), accounts and keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tollway.settings import Settings

from tests.support import cpu_log, shared_tls
from tests.support.factories import Stores, loopback_endpoint, memory_stores, moto_stores, stop_loopback, wire_chosen

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


@pytest.fixture(scope="session", autouse=True)
def _in_process_store_client() -> Iterator[None]:
    """Which client the tests' in-process moto gets (a ``make_client`` call with no endpoint).

    ``mock_aws`` answers botocore in process, so by default those calls get boto3, whatever
    ``store_client`` says (the integration tests, which talk to the emulator over HTTP, run the
    default client). With ``TOLLWAY_STORE_CLIENT=wire`` in the environment they get tollway.dynamo_wire
    instead, over moto's threaded server on a loopback port (``tests.support.factories.wire_chosen``):
    the same tests then run every store through the wire client.
    """
    import tollway.dynamo

    make_client = tollway.dynamo.make_client

    def in_process(settings: Settings) -> Any:
        if settings.aws_endpoint_url is not None:
            return make_client(settings)
        if not wire_chosen():
            return make_client(settings.model_copy(update={"store_client": "boto3"}))
        return make_client(settings.model_copy(update={"aws_endpoint_url": loopback_endpoint()}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tollway.dynamo, "make_client", in_process)
        try:
            yield
        finally:
            stop_loopback()


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
#
# The units are made here, from the test's path, by a scheduler of our own: pytest-xdist 3.8's loadgroup
# reads `xdist_group` marks through a node-id rewrite that pytest 9.2 no longer sees, so marks are
# silently ignored (https://github.com/pytest-dev/pytest-xdist/issues/1386).
_SUITE_UNITS = {"mj", "suno", "console"}


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test: its integration suite or file, or the test itself."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if parts[:2] != ["tests", "integration"] or len(parts) < 4:
        return nodeid
    return "/".join(parts[:3]) if parts[2] in _SUITE_UNITS else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getvalue("dist") != "loadgroup":
        return None  # any other --dist: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        """LoadScopeScheduling (units with the most tests first) over ``work_unit``."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return SuiteScheduling(config, log)  # type: ignore[arg-type]
