"""Credentials stay on their origin in every client that sends them: the upstream clients (relay,
Midjourney, Suno, the channel probe) never follow a redirect, so a channel key is never resent to the
host a 302 names; and no shipped code turns redirect-following on (the SSRF guard follows redirects
itself, without the caller's credentials on another origin — tests/unit/tollway/mj/test_ssrf_guard.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tollway.channel_probe import make_client, probe_call
from tollway.config.model import Channel
from tollway.mj.upstream import MjUpstream
from tollway.mj.upstream import UpstreamDown as MjDown
from tollway.settings import Settings
from tollway.suno.upstream import SunoUpstream
from tollway.suno.upstream import UpstreamDown as SunoDown
from tollway.upstream.client import UpstreamClient

from tests.unit.tollway.mj.ssrfkit import HookReceiver, Route, redirect_to, start_receiver

ROOT = Path(__file__).resolve().parents[4]
SECRET = "sk-channel-secret"


class Redirecting:
    """An upstream whose every path answers 302 to ``far`` (another port: another origin)."""

    def __init__(self) -> None:
        self.far = start_receiver()
        self.near = _redirect_everything(f"{self.far.origin}/elsewhere")

    def channel(self, kind: str = "openai") -> Channel:
        return Channel(channel_id="ch_r", name="r", type=kind, base_url=self.near.origin, models=("m",))

    def close(self) -> None:
        for r in (self.near, self.far):
            r.server.shutdown()
            r.server.server_close()


def _redirect_everything(location: str) -> HookReceiver:
    answer = redirect_to(location)

    class Everywhere(dict[str, Route]):
        def __bool__(self) -> bool:
            return True

        def get(self, key: str, default: Route | None = None) -> Route | None:  # type: ignore[override]
            return answer

    return start_receiver(Everywhere())


@pytest.fixture
def upstream() -> Iterator[Redirecting]:
    found = Redirecting()
    yield found
    found.close()


def _asked_near_only(upstream: Redirecting) -> None:
    assert upstream.near.hits, "the upstream was not called"
    assert upstream.near.hits[0].headers.get("authorization") == f"Bearer {SECRET}"
    assert upstream.far.hits == []  # the redirect was not followed: its target never saw the key


def test_the_relays_upstream_client_does_not_follow_a_redirect(upstream: Redirecting) -> None:
    client = UpstreamClient(Settings())

    async def run() -> tuple[int, int]:
        opened = await client.open(upstream.channel(), "/chat/completions", "m", SECRET, b"{}")
        await opened.aclose()
        status, _, _ = await client.call("GET", upstream.channel(), "/responses/resp_1", SECRET)
        return opened.status, status

    assert anyio.run(run) == (302, 302)
    _asked_near_only(upstream)


def test_the_midjourney_upstream_does_not_follow_a_redirect(upstream: Redirecting) -> None:
    mj = MjUpstream(timeout_s=5)
    try:
        with pytest.raises(MjDown):
            mj.fetch(upstream.channel("midjourney"), SECRET, "up1")
    finally:
        mj.close()
    _asked_near_only(upstream)


def test_the_suno_upstream_does_not_follow_a_redirect(upstream: Redirecting) -> None:
    suno = SunoUpstream(timeout_s=5)
    try:
        with pytest.raises(SunoDown):
            suno.fetch(upstream.channel("suno"), SECRET, ["up1"])
    finally:
        suno.close()
    _asked_near_only(upstream)


def test_the_channel_probe_does_not_follow_a_redirect(upstream: Redirecting) -> None:
    async def run() -> dict[str, object]:
        async with make_client(Settings()) as client:
            return await probe_call(client, upstream.channel(), SECRET, "m", reasoning=False)

    result = anyio.run(run)
    assert result["ok"] is False and result["status"] == 302
    _asked_near_only(upstream)


_SENDERS = {"Client", "AsyncClient", "stream", "request", "get", "post", "put", "patch", "delete"}


def _httpx2_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "httpx2"
            and node.func.attr in _SENDERS
        ):
            yield node


def test_no_shipped_client_follows_redirects() -> None:
    """Every client or one-off call made with httpx2 in shipped code says ``follow_redirects=False``."""
    found: list[str] = []
    unsafe: list[str] = []
    shipped = [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]
    for path in sorted(shipped):
        for call in _httpx2_calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            found.append(where)
            flags = [k.value for k in call.keywords if k.arg == "follow_redirects"]
            if not (len(flags) == 1 and isinstance(flags[0], ast.Constant) and flags[0].value is False):
                unsafe.append(where)
    # The scan sees the clients: relay, task upstreams, probe, guard, exports, the CLI's transport.
    assert len(found) >= 6, found
    assert unsafe == [], f"httpx2 calls without follow_redirects=False: {unsafe}"
