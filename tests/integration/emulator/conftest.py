"""Fixtures for the emulator's integration tests: a real `python -m tollway_local.emulator` child."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tollway_local.emulator import EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


@pytest.fixture
def template() -> Path:
    return TEMPLATE


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator with the repository's template.yaml and its state under tmp_path."""
    with EmulatorProcess(tmp_path, TEMPLATE) as process:
        yield process
