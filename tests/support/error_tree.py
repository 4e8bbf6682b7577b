"""Every class of the error tree, each with one sample instance: the mapping tables' tests walk it, so a
new error class without a row in some wire format's table fails a test."""

from __future__ import annotations

from tollway.errors import RedeemRefused, TollwayError, UpstreamRejected

__all__ = ["every_class", "sample"]


def every_class() -> list[type[TollwayError]]:
    """The root and every subclass, in definition order (``tollway.errors`` defines the whole tree)."""
    found: list[type[TollwayError]] = []
    pending: list[type[TollwayError]] = [TollwayError]
    while pending:
        cls = pending.pop(0)
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return found


def sample(cls: type[TollwayError]) -> TollwayError:
    """One instance of ``cls`` with its own status class and code (message ``"x"``)."""
    if issubclass(cls, UpstreamRejected):
        return cls("x", status_code=400, error_type="invalid_request_error", code=None, param=None)
    if issubclass(cls, RedeemRefused):
        return cls("x", reason="invalid")
    return cls("x")
