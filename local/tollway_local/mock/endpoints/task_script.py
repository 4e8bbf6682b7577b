"""What a prompt's ``[[mj:…]]`` / ``[[suno:…]]`` markers script on the mock task upstreams: the markers
both providers share (fail, stuck, steps); each provider adds its own."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TaskScript"]


@dataclass
class TaskScript:
    fail: bool = False
    stuck: bool = False
    steps: int = 1

    def apply(self, name: str, value: str) -> bool:
        """Apply a shared marker; False when ``name`` is not one (the provider's own, or unknown)."""
        if name == "fail":
            self.fail = True
        elif name == "stuck":
            self.stuck = True
        elif name == "steps" and value.isdigit():
            self.steps = max(1, min(int(value), 20))
        else:
            return False
        return True
