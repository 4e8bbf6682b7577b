"""The console's JSON API (``/console/api/...``), one object whose methods are the routes of
``relay.console`` — assembled from the views below.

Every rule about money, keys and records is the one the rest of tollway uses — the console calls it,
never re-implements it (docs/console.md, "How it is built"):

- ``relay.console.auth``: sign-up (``open_account``, the code of ``account.create``), sign-in/out, mail;
- ``relay.console.keys``: the ``key.*`` and ``mj.key-settings`` command functions, owner-checked;
- ``relay.console.account``: usage rows, totals, CSV, credits, redemption and prices from the same records;
- ``relay.console.base``: sessions, CSRF, rate limits.
"""

from __future__ import annotations

from relay.console.account import AccountViews
from relay.console.auth import AuthViews
from relay.console.keys import KeyViews

__all__ = ["ConsoleApi"]


class ConsoleApi(AuthViews, KeyViews, AccountViews):
    """Every console route's handler (their shared state lives in ``ConsoleBase``)."""
