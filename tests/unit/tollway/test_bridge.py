"""tollway.bridge: synchronous code run on the loop's thread, its awaits served by the awaiting task."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from botocore.exceptions import ClientError
from tollway import bridge, dynamo
from tollway.bridge import await_only, on_loop, pause, run_bridged

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Runs a coroutine to its end on a fresh loop of each kind (the relay runs uvloop)."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            return r.run(coro)

    return runner


def test_sync_code_awaits_through_the_task_and_returns(run: Callable[..., Any]) -> None:
    thread = threading.get_ident()

    def sync(a: int, b: int) -> tuple[int, bool, bool]:
        assert threading.get_ident() == thread  # the loop's own thread, no worker
        slept = await_only(asyncio.sleep(0, result=a))
        return slept + b, on_loop(), threading.get_ident() == thread

    async def main() -> tuple[int, bool, bool]:
        return await run_bridged(sync, 2, 3)

    assert run(main()) == (5, True, True)
    assert on_loop() is False  # outside: a plain thread


def test_on_loop_is_false_outside_and_in_worker_threads(run: Callable[..., Any]) -> None:
    async def main() -> tuple[bool, bool, bool]:
        in_task = on_loop()
        in_thread = await asyncio.to_thread(on_loop)
        inside = await run_bridged(on_loop)
        return in_task, in_thread, inside

    assert run(main()) == (False, False, True)


def test_await_only_outside_the_bridge_is_refused(run: Callable[..., Any]) -> None:
    async def main() -> None:
        await run_bridged(lambda: None)  # the bridge exists; this task is still not a bridged child
        coro = asyncio.sleep(0)
        try:
            with pytest.raises(RuntimeError, match="outside run_bridged"):
                await_only(coro)
        finally:
            coro.close()

    run(main())


def test_an_awaited_exception_is_thrown_into_the_sync_code(run: Callable[..., Any]) -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("store")

    def sync() -> str:
        try:
            await_only(fails())
        except KeyError as exc:  # caught where it was awaited, as a blocking call's error would be
            return f"handled {exc.args[0]}"
        return "not raised"

    async def main() -> str:
        return await run_bridged(sync)

    assert run(main()) == "handled store"


def test_an_exception_of_the_sync_code_is_the_callers(run: Callable[..., Any]) -> None:
    def sync() -> None:
        await_only(asyncio.sleep(0))
        raise ValueError("refused")

    async def main() -> None:
        await run_bridged(sync)

    with pytest.raises(ValueError, match="refused"):
        run(main())


def test_a_cancellation_unwinds_the_sync_code(run: Callable[..., Any]) -> None:
    seen: list[str] = []

    def sync(started: asyncio.Event) -> None:
        started.set()
        try:
            await_only(asyncio.sleep(60))
            seen.append("slept")  # never reached
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise
        finally:
            seen.append("finally")

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(run_bridged(sync, started))
        await started.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert seen == ["CancelledError", "finally"]


def test_the_sync_code_shares_the_tasks_context(run: Callable[..., Any]) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def sync() -> str:
        before = var.get()
        await_only(asyncio.sleep(0))
        var.set("set in the sync code")
        return before

    async def main() -> tuple[str, str]:
        var.set("set by the task")
        seen = await run_bridged(sync)
        return seen, var.get()

    assert run(main()) == ("set by the task", "set in the sync code")


def test_pause_lets_the_loop_run_meanwhile(run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_blocking_sleep(seconds: float) -> None:
        raise AssertionError("time.sleep on the loop's thread")

    monkeypatch.setattr(bridge.time, "sleep", no_blocking_sleep)
    ticks: list[int] = []

    async def ticker() -> None:
        for i in range(3):
            ticks.append(i)
            await asyncio.sleep(0)

    def sync() -> int:
        pause(0.02)
        return len(ticks)

    async def main() -> int:
        tick = asyncio.create_task(ticker())
        seen = await run_bridged(sync)
        await tick
        return seen

    assert run(main()) == 3  # the other task ran while the sync code paused


def test_pause_off_the_loop_sleeps_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(bridge.time, "sleep", slept.append)
    pause(0.5)
    assert slept == [0.5]


def test_store_retries_pause_on_the_loop(run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """tollway.dynamo's jittered retries pause through the bridge: a throttled call never blocks the loop."""
    monkeypatch.setattr(bridge.time, "sleep", lambda s: pytest.fail("time.sleep on the loop's thread"))
    calls: list[bool] = []

    class Throttled:
        def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(on_loop())
            if len(calls) < 3:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems"
                )
            return {}

    async def main() -> None:
        await run_bridged(dynamo.transact, Throttled(), [{"Put": {}}])

    run(main())
    assert calls == [True, True, True]


def test_many_bridged_calls_interleave_on_one_loop(run: Callable[..., Any]) -> None:
    order: list[str] = []

    def sync(name: str) -> str:
        order.append(f"{name} start")
        await_only(asyncio.sleep(0.01))
        order.append(f"{name} end")
        return name

    async def main() -> list[str]:
        return list(await asyncio.gather(*(run_bridged(sync, n) for n in ("a", "b", "c"))))

    assert run(main()) == ["a", "b", "c"]
    assert order[:3] == ["a start", "b start", "c start"]  # all three were suspended at once


def test_greenlet_is_imported_only_by_the_first_bridged_call() -> None:
    """The synchronous Lambdas (admin, Midjourney callback) import the ledger and call pause()/on_loop()
    but never run_bridged: they never load greenlet (it ships with the relay only)."""
    import subprocess
    import sys

    code = (
        "import sys, asyncio\n"
        "import tollway.dynamo, tollway.dynamo_wire, tollway.ledger.dynamodb, tollway.reserve\n"
        "from tollway import bridge\n"
        "bridge.pause(0); assert not bridge.on_loop()\n"
        "before = 'greenlet' in sys.modules\n"
        "async def main(): return await bridge.run_bridged(bridge.on_loop)\n"
        "print(before, asyncio.run(main()), 'greenlet' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_a_finished_child_serves_the_next_call_with_that_calls_context(run: Callable[..., Any]) -> None:
    """Children are kept for the next call (a fresh greenlet per call cost a frame stack each); a reused
    child runs in its new caller's context, never the previous one's."""
    from greenlet import getcurrent

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def sync() -> tuple[int, str]:
        await_only(asyncio.sleep(0))
        return id(getcurrent()), var.get()

    async def call(value: str | None) -> tuple[int, str]:
        if value is not None:
            var.set(value)
        return await run_bridged(sync)

    async def main() -> list[tuple[int, str]]:
        first = await asyncio.create_task(call("first task"))
        second = await asyncio.create_task(call(None))  # a task with its own, untouched context
        third = await asyncio.create_task(call("third task"))
        return [first, second, third]

    (g1, v1), (g2, v2), (g3, v3) = run(main())
    assert g1 == g2 == g3  # one child served all three
    assert (v1, v2, v3) == ("first task", "unset", "third task")


def test_an_idle_child_keeps_nothing_of_its_last_call(run: Callable[..., Any]) -> None:
    import gc
    import weakref

    class Payload:
        pass

    def sync(payload: Payload) -> Payload:
        await_only(asyncio.sleep(0))
        raise ValueError("the call failed")  # the exception's traceback references the payload

    async def main() -> weakref.ref[Payload]:
        payload = Payload()
        ref = weakref.ref(payload)
        with pytest.raises(ValueError, match="the call failed"):
            await run_bridged(sync, payload)
        del payload
        assert bridge._idle.children  # the child is parked for the next call
        return ref

    ref = run(main())
    gc.collect()
    assert ref() is None


def test_the_next_call_after_a_cancelled_one_runs_normally(run: Callable[..., Any]) -> None:
    def sleeper(started: asyncio.Event) -> None:
        started.set()
        await_only(asyncio.sleep(60))

    def adder(a: int, b: int) -> int:
        return await_only(asyncio.sleep(0, result=a)) + b

    async def main() -> int:
        started = asyncio.Event()
        task = asyncio.create_task(run_bridged(sleeper, started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await run_bridged(adder, 40, 2)

    assert run(main()) == 42


def test_idle_children_are_capped(run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge, "_MAX_IDLE", 3)
    monkeypatch.setattr(bridge._idle, "children", [], raising=False)

    def sync() -> None:
        await_only(asyncio.sleep(0.01))

    async def main() -> list[Any]:
        await asyncio.gather(*(run_bridged(sync) for _ in range(10)))  # ten children at once
        return list(bridge._idle.children)

    kept = run(main())
    assert len(kept) == 3
    assert not any(child.dead for child in kept)
