"""Fixtures shared by every test: settings, stores (memory and moto in-process), accounts and keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tollway.settings import Settings

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


@pytest.fixture(scope="session", autouse=True)
def _in_process_store_client() -> Iterator[None]:
    """Which client the tests' in-process moto gets (a ``make_client`` call with no endpoint).

    ``mock_aws`` answers botocore in process, so by default those calls get boto3, whatever
    ``store_client`` says (the fastest way through the unit tests; the integration tests, which talk to
    the emulator over HTTP, run the default client). With ``TOLLWAY_STORE_CLIENT=wire`` in the
    environment they get tollway.dynamo_wire instead, talking HTTP to moto's threaded server on a
    loopback port (it shares the backends ``mock_aws`` uses, which each test resets): the same tests
    then run every store through the wire client.
    """
    import tollway.dynamo

    make_client = tollway.dynamo.make_client
    server: Any = None

    def in_process(settings: Settings) -> Any:
        nonlocal server
        if settings.aws_endpoint_url is not None:
            return make_client(settings)
        if os.environ.get("TOLLWAY_STORE_CLIENT") != "wire":
            return make_client(settings.model_copy(update={"store_client": "boto3"}))
        if server is None:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
        host, port = server.get_host_and_port()
        return make_client(settings.model_copy(update={"aws_endpoint_url": f"http://{host}:{port}"}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tollway.dynamo, "make_client", in_process)
        try:
            yield
        finally:
            if server is not None:
                server.stop()


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
# its own session fixtures, so each starts its own local stack on free ports. The Midjourney and Suno
# suites share a stack of their own each (started with extra settings); keeping each suite on one worker
# starts that stack once rather than once per worker.
_XDIST_GROUPS = {"mj": "integration-mj", "suno": "integration-suno"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    integration = ROOT / "tests" / "integration"
    for item in items:
        path = Path(str(item.path))
        if integration in path.parents:
            suite = path.relative_to(integration).parts[0]
            if suite in _XDIST_GROUPS:
                item.add_marker(pytest.mark.xdist_group(_XDIST_GROUPS[suite]))
