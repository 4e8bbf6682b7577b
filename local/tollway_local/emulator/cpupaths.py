"""The emulator's CPU fast paths, installed together: same answers as moto, less work per request.

moto 5.2.5 spends most of a DynamoDB write re-deriving things that do not change between requests:
parsing the same condition and update expression texts (`expressions.py`), re-measuring every
attribute of an item once per attribute while building it (`itemsize.py`), and routing each call
through flask and re-discovering which backend serves a host and which actions a response class has
(`dispatch.py`). Measured with `python -m bench.emulator_cpu`: less than half the emulator's CPU per
relayed request (docs/local-emulator.md). Each module patches
moto's classes in this process only, keeps moto's own code for everything it does not short-cut, and
falls back to moto's code for any input it cannot answer exactly the same way; its docstring says why
each short-cut gives moto's answer.

`EmulatorServer.start` installs them unless told not to (`--no-fast-paths`, to measure moto as it
ships: `python -m bench.emulator_cpu`). Like `transactions.py` they assume the request lock in
`wsgi.py`: one request at a time.
"""

from __future__ import annotations

from typing import Any

from tollway_local.emulator import dispatch, expressions, itemsize

__all__ = ["counts", "install", "installed", "uninstall"]


def install() -> None:
    """Install every fast path (once per process; `uninstall()` reverts)."""
    expressions.install()
    itemsize.install()
    dispatch.install()


def uninstall() -> None:
    """Put moto's own code back everywhere and drop the caches."""
    dispatch.uninstall()
    itemsize.uninstall()
    expressions.uninstall()


def installed() -> bool:
    return expressions.installed() and itemsize.installed() and dispatch.installed()


def counts() -> dict[str, Any]:
    """Expression cache hits and parses, requests dispatched directly (for `/_emulator/stats`)."""
    return {"expressions": expressions.counts(), "dispatch": dispatch.counts()}
