"""Fault modes: parsing `MODE` / `MODE=N` specs from paths, headers and prompt markers into one `Faults`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from tollway_local.mock.errors import FAULT_ERRORS

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
    if current is None:
        return new
    if HALF in (current, new):
        return new if current == HALF else current
    return min(current, new)


def parse_faults(specs: Iterable[str]) -> Faults:
    """Combine specs into one `Faults`. The first error mode wins; `*_after` modes keep the earliest K.

    Raises:
        UnknownFaultError: a spec is not a known mode, or has a missing/extra `=N`.
    """
    faults = NO_FAULTS
    modes: list[str] = []
    for spec in specs:
        match = _SPEC.match(spec.strip().lower())
        if match is None:
            raise UnknownFaultError(spec)
        name, value = match.group(1), match.group(2)
        number = int(value) if value is not None else None
        faults = _apply(faults, spec, name, number)
        modes.append(spec.strip().lower())
    return replace(faults, modes=tuple(modes)) if modes else faults


def _apply(faults: Faults, spec: str, name: str, number: int | None) -> Faults:
    if name in FAULT_ERRORS and number is None:
        return faults if faults.error else replace(faults, error=name)
    if name in FLAG_MODES and number is None:
        return replace(faults, **{name: True})
    if name == "slow_first" and number is not None:
        return replace(faults, slow_first_ms=max(faults.slow_first_ms, number))
    base = name.removesuffix("_after")
    if base in AFTER_MODES and (number is None) == (base == name):
        field = f"{base}_after"
        return replace(faults, **{field: _earliest(getattr(faults, field), HALF if number is None else number)})
    raise UnknownFaultError(spec)
