"""Relay-mode image copies (tollway/mj/images.py): the channel key goes with a fetch on the channel's own
origin and never further — an image URL there that redirects to a CDN or a bucket (another port of the
same host is another origin) reaches it without ``mj-api-secret`` or ``Authorization``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tollway.config.model import Channel
from tollway.mj.model import TaskStatus
from tollway.settings import Settings

from tests.unit.tollway.mj.kit import Env, charged_task, customer, services
from tests.unit.tollway.mj.ssrfkit import HookReceiver, Route, redirect_to, start_receiver

CHANNEL_KEY = "mj-upstream-key"


@pytest.fixture
def upstream() -> Iterator[tuple[HookReceiver, dict[str, Route]]]:
    """The channel's upstream (its origin is trusted as the channel is)."""
    routes: dict[str, Route] = {}
    found = start_receiver(routes)
    yield found, routes
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def cdn() -> Iterator[HookReceiver]:
    found = start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def _env(upstream: HookReceiver, cdn: HookReceiver) -> Iterator[Env]:
    settings = Settings(mj_image_bucket="mj-test-images", ssrf_allow=[cdn.origin], ssrf_allow_http=True)
    with services("memory", settings) as env:
        channel = Channel(
            channel_id="ch_mj",
            name="mj",
            type="midjourney",
            base_url=upstream.origin,
            models=("mj_imagine",),
            headers={"x-upstream-account": "acct-7"},
        )
        env.svc.config.put_channel(channel, create=True)
        env.svc.channel_secrets.put("ch_mj", CHANNEL_KEY)
        yield env


def _copy(env: Env, image_url: str) -> str | None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000).replace(status=TaskStatus.SUCCESS, view={"imageUrl": image_url})
    copied = env.rt.engine.images.copy(task)
    assert copied.image_error is None, copied.image_error
    return copied.image_key


def test_an_image_on_the_channels_origin_is_fetched_with_the_channel_key(
    upstream: tuple[HookReceiver, dict[str, Route]], cdn: HookReceiver
) -> None:
    near, _ = upstream
    for env in _env(near, cdn):
        assert _copy(env, f"{near.origin}/image.png") is not None
    sent = near.hits[0].headers
    assert sent["mj-api-secret"] == CHANNEL_KEY and sent["authorization"] == f"Bearer {CHANNEL_KEY}"
    assert sent["x-upstream-account"] == "acct-7"


def test_a_redirect_off_the_channels_origin_goes_without_the_channel_key(
    upstream: tuple[HookReceiver, dict[str, Route]], cdn: HookReceiver
) -> None:
    near, routes = upstream
    routes["/image.png"] = redirect_to(f"{cdn.origin}/bucket/image.png")
    for env in _env(near, cdn):
        key = _copy(env, f"{near.origin}/image.png")
        assert key is not None and env.rt.images is not None
        assert env.rt.images.get(key) == (b"png", "image/png")  # the CDN's answer was copied
    assert near.hits[0].headers["mj-api-secret"] == CHANNEL_KEY  # asked the channel with its key…
    got = cdn.hits[0].headers
    assert cdn.hits[0].path == "/bucket/image.png"
    # …and the CDN got none of the channel's credentials (nor its extra headers), only what is harmless.
    assert not {"mj-api-secret", "authorization", "x-upstream-account"} & got.keys(), got
    assert got["accept"] == "image/*"


def test_an_image_elsewhere_is_never_fetched_with_the_channel_key(
    upstream: tuple[HookReceiver, dict[str, Route]], cdn: HookReceiver
) -> None:
    near, _ = upstream
    for env in _env(near, cdn):
        assert _copy(env, f"{cdn.origin}/image.png") is not None
    assert near.hits == []
    assert not {"mj-api-secret", "authorization"} & cdn.hits[0].headers.keys()
