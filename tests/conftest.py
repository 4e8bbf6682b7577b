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
def _wire_store_client() -> Iterator[None]:
    """``TOLLWAY_STORE_CLIENT=wire``: the in-process moto also served on a loopback port, for the wire client.

    ``mock_aws`` answers botocore in process; tollway.dynamo_wire speaks HTTP. With the wire client
    chosen, moto's threaded server (it shares the backends ``mock_aws`` uses, which each test resets)
    becomes the endpoint of every DynamoDB client made without one, so the same tests run the stores
    through either client. Only ``make_client`` is redirected: other settings stay as the test made them.
    """
    if Settings().store_client != "wire":
        yield
        return
    import logging

    import tollway.dynamo
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    make_client = tollway.dynamo.make_client

    def on_loopback(settings: Settings) -> Any:
        if settings.store_client == "wire" and settings.aws_endpoint_url is None:
            settings = settings.model_copy(update={"aws_endpoint_url": f"http://{host}:{port}"})
        return make_client(settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tollway.dynamo, "make_client", on_loopback)
        try:
            yield
        finally:
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
