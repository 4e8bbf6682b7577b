"""One runtime per live owner object: the process's Midjourney runtime per ``Services``, the Suno runtime
per Midjourney runtime (and any later provider's), each built once even when threads race for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerOwner"]

OwnerT = TypeVar("OwnerT")
ValueT = TypeVar("ValueT")


class PerOwner(Generic[OwnerT, ValueT]):
    """A value built from an owner object on first use, then served for as long as that object lives.

    Keyed by ``id(owner)`` with the owner kept beside the value, so an id reused by a new object after
    the old one died builds afresh instead of serving the dead owner's value.
    """

    def __init__(self, build: Callable[[OwnerT], ValueT]) -> None:
        self._build = build
        self._entries: dict[int, tuple[OwnerT, ValueT]] = {}
        self._lock = threading.Lock()

    def get(self, owner: OwnerT) -> ValueT:
        entry = self._entries.get(id(owner))
        if entry is not None and entry[0] is owner:
            return entry[1]
        with self._lock:
            entry = self._entries.get(id(owner))
            if entry is None or entry[0] is not owner:
                entry = (owner, self._build(owner))
                self._entries[id(owner)] = entry
            return entry[1]
