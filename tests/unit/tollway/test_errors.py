"""The error tree itself: one module, one code per class, a status class for each."""

from __future__ import annotations

import tollway.errors as tree
from tollway.errors import TollwayError

from tests.support.error_tree import every_class, sample


def test_the_whole_tree_is_defined_in_one_module() -> None:
    classes = every_class()
    assert all(cls.__module__ == tree.__name__ for cls in classes)
    exported = {name for name in tree.__all__ if isinstance(getattr(tree, name), type)}
    assert {cls.__name__ for cls in classes} == exported
    assert set(tree.__all__) - exported == {"wire_row"}  # the one helper: a table's row for an error


def test_a_tables_row_is_its_most_specific_listed_class() -> None:
    table = {tree.TollwayError: "root", tree.ClientError: "client", tree.NotFound: "missing"}
    assert tree.wire_row(table, tree.TaskNotFound("gone")) == "missing"  # NotFound's, its nearest listed
    assert tree.wire_row(table, tree.Conflict("taken")) == "client"
    assert tree.wire_row(table, tree.StoreUnavailable("down")) == "root"


def test_each_class_has_its_own_code_and_a_status_class() -> None:
    codes = [cls.default_code for cls in every_class()]
    assert len(codes) == len(set(codes)), "two classes share a default code: records could not tell them apart"
    for cls in every_class():
        error = sample(cls)
        assert error.code == cls.default_code and error.status == cls.status_code
        assert 400 <= error.status < 600
        assert (error.status < 500) == issubclass(cls, tree.ClientError)


def test_an_instance_may_name_its_own_code_and_status() -> None:
    error = TollwayError("x", code="special", status_code=418, details=[1])
    assert (error.code, error.status, error.details) == ("special", 418, [1])
    assert tree.RateLimited("x", retry_after="3").retry_after == "3"
