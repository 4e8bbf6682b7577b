"""Run synchronous code on the event loop's thread, its I/O awaited by the loop (greenlets).

The ledger (``tollway.ledger``, ``tollway.billing``, ``tollway.reserve``) is synchronous: the admin
and Midjourney-callback Lambdas call it as it is. The relay used to run it in a worker thread for
each store call, and the thread hop plus the blocking HTTP client were a large share of the relay's
CPU per request. :func:`run_bridged` runs the same synchronous code in a child greenlet of the
awaiting task instead — the technique of SQLAlchemy's asyncio extension (``greenlet_spawn`` /
``await_only``): where the code reaches I/O that can be awaited (the wire client's loop transport,
:func:`pause`), :func:`await_only` switches back to the task, which awaits it on the loop and switches
into the child again with the result, or throws the exception in. Nothing else in between can block
the loop: the code between two awaits is the same CPU the worker thread spent. A child that finished
its call is parked for the next one (on its thread) instead of dropped.

greenlet is imported on the first :func:`run_bridged` only (the relay). :func:`on_loop` and
:func:`pause` cost nothing until then, so the synchronous Lambdas never load it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from greenlet import greenlet

__all__ = ["await_only", "on_loop", "pause", "run_bridged"]

T = TypeVar("T")

# The greenlet class of bridged children and greenlet's getcurrent, set on the first run_bridged: until
# then nothing can be bridged, so on_loop() answers without importing greenlet (and, once imported,
# without an import statement per call: this runs several times per store call).
_child_class: type[greenlet] | None = None
_getcurrent: Callable[[], greenlet] | None = None

# Finished children wait here for the next call, per thread (a greenlet runs only on the thread that
# made it). A fresh greenlet costs more than its switch: on CPython 3.11+ each one gets its own frame
# stack, a 16 KiB block mapped and unmapped by the allocator, so two per request showed up as mmap and
# munmap calls and page faults in the relay. More idle children than this are ended, not kept.
_MAX_IDLE = 64
_idle = threading.local()


class _Done:
    """What a child hands its caller when its call is over (the result or exception is on the child)."""


_DONE = _Done()


def _serve(job: tuple[Callable[..., Any], tuple[Any, ...]] | None) -> None:
    """A child's body: run each job it is switched into, park between jobs; ``None`` ends it."""
    me: Any = _getcurrent() if _getcurrent is not None else None
    assert me is not None  # noqa: S101 - only run_bridged starts children, after setting _getcurrent
    while job is not None:
        fn, args = job
        try:
            me.value = fn(*args)
        except BaseException as exc:  # the caller's to raise: a cancellation included
            me.failure = exc
        # Drop the finished call's references before parking: an idle child must not keep a request alive.
        job = fn = args = None  # type: ignore[assignment]
        parent = me.parent
        assert parent is not None  # noqa: S101 - run_bridged sets it before every job
        job = parent.switch(_DONE)


def _bridged_class() -> type[greenlet]:
    global _child_class, _getcurrent
    if _child_class is None:
        from greenlet import getcurrent
        from greenlet import greenlet as base

        class Bridged(base):
            """A child greenlet run by :func:`run_bridged` (its type is how :func:`on_loop` knows)."""

            def __init__(self) -> None:
                super().__init__(_serve)
                self.value: Any = None
                self.failure: BaseException | None = None

        _getcurrent = getcurrent
        _child_class = Bridged
    return _child_class


def on_loop() -> bool:
    """Whether the caller runs inside :func:`run_bridged` (on the loop's thread, awaits allowed)."""
    cls, getcurrent = _child_class, _getcurrent
    if cls is None or getcurrent is None:
        return False
    return isinstance(getcurrent(), cls)


async def run_bridged(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` run on this task's thread; its :func:`await_only` calls are awaited by this task.

    The child shares this task's contextvars context (a ``ContextVar`` set on either side is seen on
    the other), as a worker thread run by anyio would copy it. A ``CancelledError`` (or any exception)
    delivered to the awaiting task is thrown into the child at its ``await_only`` and propagates out
    of ``fn`` unless ``fn`` handles it; its result or exception is this coroutine's.
    """
    cls = _bridged_class()
    assert _getcurrent is not None  # noqa: S101 - set with the class
    parent = _getcurrent()
    idle: list[Any] = _idle.__dict__.setdefault("children", [])
    child: Any = idle.pop() if idle else cls()
    child.parent = parent
    # Share the task's context (greenlet otherwise runs the child in an empty one, or the last caller's).
    child.gr_context = parent.gr_context
    result: Any = child.switch((fn, args))
    while result is not _DONE:
        # The child is parked in await_only(result): await it here, on the loop, and hand back the
        # outcome. The exception branch catches BaseException on purpose: a cancellation must unwind
        # the synchronous code (and close its connection), not leave it suspended forever.
        try:
            value = await result
        except BaseException:  # thrown into the child, which re-raises what it does not handle
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    value, error = child.value, child.failure
    child.value = child.failure = None
    child.gr_context = None
    if len(idle) < _MAX_IDLE:
        idle.append(child)
    else:
        child.switch(None)  # runs to its end
    if error is not None:
        try:
            raise error
        finally:
            del error  # no cycle through this frame's traceback
    return value  # type: ignore[no-any-return]


def await_only(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` from synchronous code run by :func:`run_bridged` (suspends the child only).

    Raises:
        RuntimeError: not inside :func:`run_bridged` (nothing could await it).
    """
    cls, getcurrent = _child_class, _getcurrent
    if cls is None or getcurrent is None:
        raise RuntimeError("await_only() outside run_bridged()")
    current = getcurrent()
    if not isinstance(current, cls):
        raise RuntimeError("await_only() outside run_bridged()")
    parent = current.parent
    assert parent is not None  # noqa: S101 - a bridged child always has its task as parent
    return parent.switch(awaitable)  # type: ignore[no-any-return]


def pause(seconds: float) -> None:
    """Sleep ``seconds``: on the loop (other requests go on) when bridged, else the thread blocks."""
    if on_loop():
        import asyncio  # only the bridged path needs it (a synchronous caller may never have loaded it)

        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)
