"""Times as people type them: ISO dates and times, durations, or epoch seconds.

``2027-01-01`` (midnight UTC), ``2027-01-01T12:00``, ``2027-01-01T12:00:00Z`` / ``+02:00`` (a time
without an offset is UTC), ``30d`` / ``12h`` / ``90m`` / ``2w`` / ``45s`` (a duration: *from now* for
an expiry, *ago* for a query's start or end; ``+30d`` and ``-7d`` say it explicitly), or a plain number
of epoch seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal

__all__ = ["Direction", "parse_time"]

Direction = Literal["future", "past"]

_DURATION = re.compile(r"^([+-]?)(\d+)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_time(text: str, *, now: datetime, direction: Direction) -> datetime:
    """The UTC instant ``text`` names.

    Raises:
        ValueError: ``text`` is none of the accepted forms (the message lists them).
    """
    value = text.strip()
    duration = _DURATION.match(value.lower())
    if duration:
        sign, amount, unit = duration.groups()
        delta = timedelta(seconds=int(amount) * _UNIT[unit])
        ahead = sign == "+" or (sign == "" and direction == "future")
        return now + delta if ahead else now - delta
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use an ISO date or time such as 2027-01-01 or 2027-01-01T12:00Z, "
            "a duration such as 30d, 12h or 90m, or epoch seconds)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
