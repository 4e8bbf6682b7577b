"""`cpupaths`: the emulator's fast paths install and uninstall together, and report their counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tollway_local.emulator import cpupaths, dispatch, expressions, itemsize

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _moto_as_shipped() -> Iterator[None]:
    cpupaths.uninstall()
    yield
    cpupaths.uninstall()


def test_install_and_uninstall_cover_every_fast_path() -> None:
    assert not cpupaths.installed()
    cpupaths.install()
    assert cpupaths.installed()
    assert expressions.installed() and itemsize.installed() and dispatch.installed()
    cpupaths.uninstall()
    assert not (expressions.installed() or itemsize.installed() or dispatch.installed())


def test_counts_name_the_caches_and_the_dispatch() -> None:
    counts = cpupaths.counts()
    assert set(counts) == {"expressions", "dispatch"}
    assert {"condition_hits", "condition_parses", "update_hits", "update_parses"} <= set(counts["expressions"])
    assert set(counts["dispatch"]) == {"direct", "flask"}
