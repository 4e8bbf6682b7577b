"""Fixtures of the Midjourney unit tests (defined in ssrfkit.py)."""

from tests.unit.tollway.mj.ssrfkit import receiver, socket_guard

__all__ = ["receiver", "socket_guard"]
