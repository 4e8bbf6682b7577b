"""Fault modes: parsing `MODE` / `MODE=N` specs from paths, headers and prompt markers into one `Faults`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tollway_local.mock.errors import FAULT_ERRORS

if TYPE_CHECKING:
    from collections.abc import Iterable

#: `cut`, `malformed_sse`, `stall`, `sse_error` without `_after=K` fire halfway through the tokens.
HALF = -1

#: Modes that fire after K tokens; the bare name means "halfway".
AFTER_MODES = ("malformed_sse", "cut", "stall", "sse_error")
FLAG_MODES = ("timeout", "no_usage", "empty_stream")
VALUE_MODES = ("slow_first",)

KNOWN_MODES: tuple[str, ...] = (
    *sorted(FAULT_ERRORS),
    *FLAG_MODES,
    "slow_first=MS",
    *(m for name in AFTER_MODES for m in (name, f"{name}_after=K")),
)

_SPEC = re.compile(r"^([a-z0-9_]+)(?:=(\d{1,9}))?$")
_PATH_FAULT = re.compile(r"/fault/([^/]+)(?=/)")
_FAULT_MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")


class UnknownFaultError(ValueError):
    """A fault spec the mock does not know (the dispatcher answers 400 with this message)."""

    def __init__(self, spec: str) -> None:
        super().__init__(f"mock upstream: unknown fault mode {spec!r}; known modes: {', '.join(KNOWN_MODES)}")
        self.spec = spec


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults applied to one request. `*_after` fields hold K (tokens), `HALF`, or None (off)."""

    modes: tuple[str, ...] = ()
    error: str | None = None
    timeout: bool = False
    slow_first_ms: int = 0
    malformed_sse_after: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    sse_error_after: int | None = None
    no_usage: bool = False
    empty_stream: bool = False

    def __bool__(self) -> bool:
        return bool(self.modes)


NO_FAULTS = Faults()


def resolve_after(after: int | None, total_tokens: int) -> int | None:
    """The token count after which an `*_after` fault fires (`HALF` → ⌊total/2⌋)."""
    if after == HALF:
        return total_tokens // 2
    return after


def split_specs(raw: str) -> list[str]:
    """`"a, b=3"` → `["a", "b=3"]` (commas separate modes in headers, path segments and markers)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def specs_from_path(path: str) -> list[str]:
    """Every `/fault/<modes>/` segment of a channel base URL path."""
    return [spec for segment in _PATH_FAULT.findall(path) for spec in split_specs(segment)]


def specs_from_texts(texts: Iterable[str]) -> list[str]:
    """Every `[[fault:<modes>]]` marker in the given texts."""
    return [
        spec
        for text in texts
        if "[[fault:" in text
        for marker in _FAULT_MARKER.findall(text)
        for spec in split_specs(marker)
    ]


def _earliest(current: int | None, new: int) -> int:
    """Two K of one `*_after` mode: the smaller wins, and an explicit K beats the bare (halfway) form."""
    if current is None or current == HALF:
        return new
    return current if new == HALF else min(current, new)


def parse_faults(specs: Iterable[str]) -> Faults:
    """Combine specs into one `Faults`. The first error mode wins; `*_after` modes keep the earliest K.

    Raises:
        UnknownFaultError: a spec is not a known mode, or has a missing/extra `=N`.
    """
    fields: dict[str, Any] = {}
    modes: list[str] = []
    for spec in specs:
        normal = spec.strip().lower()
        match = _SPEC.match(normal)
        if match is None:
            raise UnknownFaultError(spec)
        name, value = match.group(1), match.group(2)
        _apply(fields, spec, name, int(value) if value is not None else None)
        modes.append(normal)
    return Faults(modes=tuple(modes), **fields) if modes else NO_FAULTS


def _apply(fields: dict[str, Any], spec: str, name: str, number: int | None) -> None:
    if name in FAULT_ERRORS and number is None:
        fields.setdefault("error", name)
    elif name in FLAG_MODES and number is None:
        fields[name] = True
    elif name == "slow_first" and number is not None:
        fields["slow_first_ms"] = max(fields.get("slow_first_ms", 0), number)
    else:
        base = name.removesuffix("_after")
        if base not in AFTER_MODES or (number is None) != (base == name):
            raise UnknownFaultError(spec)
        field = f"{base}_after"
        fields[field] = _earliest(fields.get(field), HALF if number is None else number)
