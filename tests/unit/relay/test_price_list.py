"""relay.price_list — the one price list /api/pricing and the console show: the catalog's marked-up price
× the group ratio, each marked-up model naming its markup (Midjourney actions per speed too); and the
console's "Models & prices" data is exactly what /api/pricing answers a key of the same group."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from relay.app import create_app
from relay.price_list import mj_price_list, price_list
from starlette.testclient import TestClient
from tollway.config.catalog import Catalog, CatalogCache
from tollway.config.memory import MemoryConfig
from tollway.config.model import Channel, Group
from tollway.memory.backend import MemoryBackend
from tollway.pricing.markup import Markup
from tollway.pricing.schema import shipped_prices
from tollway.services import LazyServices, Services
from tollway.settings import Settings

HEADERS = {"X-Tollway-Console": "1"}
PASSWORD = "correct horse battery staple"
MODELS = ("gpt-4.1-mini", "gpt-5.4-mini", "suno_music", "mj_imagine", "mj_upscale")


def _configure(config: MemoryConfig, group: str, ratio: str) -> None:
    if group != "default":
        config.put_group(Group(name=group, ratio=Decimal(ratio)))
    config.put_channel(
        Channel(channel_id=f"ch_{group}", name=group, type="openai", base_url="http://127.0.0.1:9", models=MODELS,
                groups=(group,)),
        create=True,
    )  # fmt: skip
    for pattern, multiplier in (("gpt-4*", "2"), ("mj_fast_*", "3"), ("suno_*", "1.5")):
        config.put_markup(Markup(pattern=pattern, multiplier=Decimal(multiplier)))


def _catalog(group: str = "vip", ratio: str = "0.8") -> Catalog:
    config = MemoryConfig(MemoryBackend())
    _configure(config, group, ratio)
    return CatalogCache(config, shipped_prices(), ttl_s=60).get()


def test_a_marked_up_model_is_listed_at_list_price_times_markup_times_ratio_and_names_its_markup() -> None:
    body = price_list(_catalog(), "vip")
    assert (body["group"], body["ratio"]) == ("vip", "0.8")
    listed = {m["model"]: m for m in body["data"]}
    shipped = shipped_prices().models
    gpt4 = listed["gpt-4.1-mini"]
    assert gpt4["markup"] == "2"
    list_input = shipped["gpt-4.1-mini"].tokens.input  # type: ignore[union-attr]
    assert Decimal(gpt4["per_million_tokens"]["input"]) == list_input * 2 * Decimal("0.8")
    assert Decimal(gpt4["tools_per_call"]["web_search"]) == Decimal("0.05") * 2 * Decimal("0.8")
    assert "markup" not in listed["gpt-5.4-mini"]  # no pattern matches it: the list price × the ratio
    assert Decimal(listed["gpt-5.4-mini"]["per_million_tokens"]["input"]) == Decimal("0.75") * Decimal("0.8")
    assert listed["suno_music"]["markup"] == "1.5"
    assert Decimal(listed["suno_music"]["per_call"]) == Decimal("0.10") * Decimal("1.5") * Decimal("0.8")


def test_a_key_sees_only_the_models_it_may_use() -> None:
    body = price_list(_catalog(), "vip", lambda model: model.startswith("gpt-5"))
    assert [m["model"] for m in body["data"]] == ["gpt-5.4-mini"]


def test_midjourney_actions_are_listed_as_charged_with_the_markup_of_each_speed() -> None:
    rows = {row["action"]: row for row in mj_price_list(_catalog(), "vip")}
    imagine = rows["imagine"]
    shipped = shipped_prices().models
    fast = shipped["mj_fast_imagine"].per_call
    relax = shipped["mj_relax_imagine"].per_call
    assert fast is not None and relax is not None
    assert Decimal(imagine["usd"]["fast"]) == fast * 3 * Decimal("0.8")  # exact to the micro-USD here
    assert Decimal(imagine["usd"]["relax"]) == relax * Decimal("0.8")
    assert imagine["markup"] == {"fast": "3"}  # relax and turbo are at list price
    assert "markup" not in rows["upscale"]  # type 2: one key, mj_upscale, no markup matches it


# ---- the console shows the same list ------------------------------------------------------------


@pytest.fixture
def world() -> Iterator[tuple[TestClient, Services]]:
    settings = Settings(console_argon2_memory_kib=8192, console_argon2_time_cost=1)
    services = Services.in_memory(settings, MemoryBackend())
    with TestClient(create_app(settings, LazyServices(lambda: services)), base_url="http://localhost") as http:
        yield http, services


def test_the_consoles_price_list_is_the_marked_up_list_api_pricing_shows(world: tuple[TestClient, Services]) -> None:
    http, svc = world
    signed_up = http.post("/console/api/signup", json={"email": "p@example.com", "password": PASSWORD}, headers=HEADERS)
    assert signed_up.status_code == 200, signed_up.text
    csrf = signed_up.json()["csrf"]
    assert isinstance(svc.config, MemoryConfig)
    _configure(svc.config, "default", "1")
    svc.catalog.invalidate()

    console = http.get("/console/api/models")
    assert console.status_code == 200, console.text
    body = console.json()
    listed = {m["model"]: m for m in body["data"]}
    assert listed["gpt-4.1-mini"]["markup"] == "2" and "markup" not in listed["gpt-5.4-mini"]
    assert Decimal(listed["gpt-4.1-mini"]["per_million_tokens"]["output"]) == Decimal("1.60") * 2
    imagine = next(row for row in body["midjourney"] if row["action"] == "imagine")
    assert imagine["markup"] == {"fast": "3"}

    # A key of the same account (same group, every model allowed) reads the very same list.
    created = http.post("/console/api/keys", json={"name": "prices"}, headers={**HEADERS, "X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    public = http.get("/api/pricing", headers={"Authorization": f"Bearer {created.json()['key']}"})
    assert public.status_code == 200, public.text
    assert public.json() == {k: v for k, v in body.items() if k != "midjourney"}
