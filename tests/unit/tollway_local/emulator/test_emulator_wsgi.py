"""`wsgi.py`'s GC freeze bookkeeping: `/_emulator/stats` reports the frozen count of the last freeze
without walking the permanent generation again (that walk cost ~16 ms of CPU per stats call)."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import pytest
from tollway_local.emulator import wsgi

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def _unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("_unfrozen_afterwards")
def test_stats_report_the_last_freeze_without_counting_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in count: the real one drops as frozen objects are freed (by any thread), so it cannot be
    # compared with itself a moment later.
    frozen = 424_242
    monkeypatch.setattr(wsgi, "_frozen", [0])
    monkeypatch.setattr(gc, "get_freeze_count", lambda: frozen)
    wsgi.freeze_gc()
    assert wsgi.frozen_count() == frozen

    def no_walk() -> int:
        raise AssertionError("stats must not walk the permanent generation")

    monkeypatch.setattr(gc, "get_freeze_count", no_walk)
    app = wsgi.SerialisedMotoApp(app=object())
    answer: dict[str, Any] = {}
    body = app({"PATH_INFO": wsgi.STATS_PATH}, lambda status, headers: answer.setdefault("status", status))
    assert answer["status"] == "200 OK"
    assert f'"gc_frozen": {frozen}'.encode() in b"".join(body)


@pytest.mark.usefixtures("_unfrozen_afterwards")
def test_freeze_without_collect_only_freezes(monkeypatch: pytest.MonkeyPatch) -> None:
    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(1) or 0)
    assert wsgi.freeze_gc(collect=False) == 0
    assert collections == []
    wsgi.freeze_gc()
    assert collections == [1]
