"""A standing spec-driven fuzzer: schemathesis generates requests from the published API description
(tests/integration/fuzz/targets.py) for every operation tollway serves, and sends them over HTTP to the
real local stack with a funded key and the mock upstream behind it — requests that follow the document
and requests that break it (schemathesis' negative mode). Whatever the shape, tollway answers
below 500, and afterwards the ledger still balances: the fuzzed account's audit is clean with no hold
left open, and the whole ledger's audit reports no account it did not report before.

Bounded and deterministic: a fixed number of examples per operation (``TOLLWAY_FUZZ_EXAMPLES``, default
8) drawn with a fixed seed (hypothesis ``derandomize``), so a failure reproduces on the next run."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tollway_local.mock import MockConfig, MockServer

from tests.integration.fuzz.targets import TARGETS, FuzzTarget, Operation
from tests.support.stack import Customer, LocalStack, wait_until

schemathesis = pytest.importorskip("schemathesis", reason="the fuzzer needs schemathesis (a dev dependency)")

EXAMPLES = int(os.environ.get("TOLLWAY_FUZZ_EXAMPLES", "8"))
_AUTH_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
CASES = [(target, op) for target in TARGETS for op in target.operations]


@functools.cache
def _operations(target: FuzzTarget) -> dict[tuple[str, str], Any]:
    """The target's document, loaded once per session, as schemathesis operations by (method, path)."""
    with target.spec.open() as handle:
        raw = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    schema = schemathesis.openapi.from_dict(raw)
    found: dict[tuple[str, str], Any] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[(operation.method.upper(), operation.path)] = operation
    return found


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockServer]:
    with MockServer(MockConfig.fast()) as server:
        yield server


@pytest.fixture
def funded(stack: LocalStack, upstream: MockServer, request: pytest.FixtureRequest) -> Customer:
    """A customer with $1,000, and a channel on the mock upstream serving the target's models."""
    target: FuzzTarget = request.node.callspec.params["target"]
    stack.channel(target.models, upstream.base_url, name=f"fuzz {target.name}")
    return stack.customer("1000.00")


def _aimed(op: Operation, case: Any, aim: bool) -> None:
    """Point the generated request at the operation's served model (most of the time)."""
    if op.model is None or not aim:
        return
    if "model" in (case.path_parameters or {}):
        case.path_parameters["model"] = op.model
    elif isinstance(case.body, dict):
        case.body["model"] = op.model


def _unhealthy(audit: dict[str, Any]) -> set[str]:
    """The accounts the whole-ledger audit reports a difference for."""
    return {str(d["account_id"]) for d in audit["differences"]}


@pytest.mark.parametrize(("target", "op"), CASES, ids=[f"{t.name}:{o.label}" for t, o in CASES])
def test_no_request_the_spec_allows_gets_a_5xx(
    stack: LocalStack, funded: Customer, target: FuzzTarget, op: Operation
) -> None:
    operation = _operations(target).get((op.method, op.path))
    assert operation is not None, f"{op.label} is not in {target.spec.name}"
    before = _unhealthy(stack.audit())
    base_url = stack.url + target.base_path
    headers = target.auth(funded.key)
    seen: list[str] = []
    # Positive cases follow the document; negative ones break it somewhere (a wrong type, a missing
    # field): both must get an answer below 500.
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(case=cases, aim=st.integers(0, 4).map(bool))
    def send(case: Any, aim: bool) -> None:
        _aimed(op, case, aim)
        sent = case.as_transport_kwargs(base_url=base_url)
        # Negative cases may drop or break the credentials; tollway's 401s are tested elsewhere, so every
        # request here carries the funded key and gets past authentication.
        sent["headers"] = {
            **{k: v for k, v in sent.get("headers", {}).items() if k.lower() not in _AUTH_HEADERS},
            **headers,
        }
        response = session.request(**sent, timeout=60)
        seen.append(f"{response.status_code}")
        assert response.status_code < 500, (
            f"{op.label} answered {response.status_code}: {response.text[:500]}\nbody: {str(case.body)[:1000]}"
        )

    with requests.Session() as session:
        send()
    assert seen, "no request was sent"
    print(f"{op.label}: answers {dict(sorted(Counter(seen).items()))}")  # figures, never asserted
    account = wait_until(
        lambda: a if (a := stack.audit(funded.account_id))["ok"] and not stack.open_holds(funded.account_id) else None,
        timeout_s=30,
        what="the fuzzed account's audit clean with no open hold",
    )
    assert account["ok"]
    assert _unhealthy(stack.audit()) <= before
