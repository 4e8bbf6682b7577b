"""Operator-command fixtures: an AdminContext over both stores."""

from __future__ import annotations

import pytest
from tollway.admin.registry import AdminContext

from tests.support.factories import Stores
from tests.unit.admin.helpers import services_of


@pytest.fixture
def admin(stores: Stores) -> AdminContext:
    """An operator's context on both stores (actor as the local stack records it)."""
    return AdminContext(services=services_of(stores), actor="local")
