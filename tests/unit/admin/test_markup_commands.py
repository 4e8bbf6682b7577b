"""price.markup-set / -list / -remove on both stores: what the catalog, price.list and the trail show."""

from __future__ import annotations

import pytest
from tollway.admin.registry import AdminContext
from tollway.pricing.schema import shipped_prices

from tests.unit.admin.helpers import fail, run


def test_markup_commands_reach_the_catalog_and_leave_a_trail(admin: AdminContext) -> None:
    listed = shipped_prices().models["gpt-4.1"].tokens
    assert listed is not None and listed.input is not None
    result = run(admin, "price.markup-set", pattern="gpt-4*", multiplier="2", note="GPT-4 at 2x")
    assert "gpt-4.1" in result["models"] and "gpt-5.4" not in result["models"]
    catalog = admin.services.catalog.get()
    marked = catalog.price("gpt-4.1")
    assert marked is not None and marked.tokens is not None and marked.tokens.input == listed.input * 2
    assert catalog.markup("gpt-4.1") == 2 and catalog.markup("gpt-5.4") == 1
    rows = {r["model"]: r for r in run(admin, "price.list", model="gpt-4")}
    assert rows["gpt-4.1"]["markup"] == "2" and rows["gpt-4.1"]["input_per_1m"] == str(listed.input * 2)
    # An operator's own price is used as written: no markup on top.
    run(admin, "price.set", model="gpt-4o", input_per_1m="1.00")
    assert admin.services.catalog.get().markup("gpt-4o") == 1
    assert [m["pattern"] for m in run(admin, "price.markup-list")] == ["gpt-4*"]
    run(admin, "price.markup-remove", pattern="gpt-4*")
    assert admin.services.catalog.get().markup("gpt-4.1") == 1
    assert fail(admin, "price.markup-remove", pattern="gpt-4*")["code"] == "not_found"
    trail = [e["command"] for e in run(admin, "trail.query", command_name="price")["entries"]]
    assert trail == ["price.markup-remove", "price.markup-remove", "price.set", "price.markup-set"]


@pytest.mark.parametrize("multiplier", ["0", "-1", "101", "abc"])
def test_a_markup_must_be_a_positive_multiplier(admin: AdminContext, multiplier: str) -> None:
    assert fail(admin, "price.markup-set", pattern="gpt-4*", multiplier=multiplier)["code"] == "invalid_args"


def test_a_pattern_is_a_model_name_with_wildcards(admin: AdminContext) -> None:
    assert fail(admin, "price.markup-set", pattern="gpt 4", multiplier="2")["code"] == "invalid_args"
