"""tollway.suno.pricing — an action's price is the catalog's per-call price (the operator's markup
included) × the group ratio, rounded up once; the hold is that charge; the basis names markup and ratio."""

from __future__ import annotations

from decimal import Decimal

from tollway.config.catalog import Catalog, marked_up
from tollway.pricing.markup import Markup
from tollway.pricing.schema import shipped_prices
from tollway.suno.model import SunoAction
from tollway.suno.pricing import price_of


def _catalog(**markups: str) -> Catalog:
    prices, applied = marked_up(
        shipped_prices().models, {p: Markup(pattern=p, multiplier=Decimal(m)) for p, m in markups.items()}
    )
    return Catalog(prices=prices, groups={}, channels=(), markups=applied)


def test_the_list_price_has_no_basis() -> None:
    music = price_of(SunoAction.MUSIC, _catalog(), Decimal(1))
    assert music is not None and (music.key, music.micros, music.basis) == ("suno_music", 100_000, {})


def test_a_markup_and_a_group_ratio_are_charged_held_and_named() -> None:
    catalog = _catalog(**{"suno_m*": "1.5"})
    music = price_of(SunoAction.MUSIC, catalog, Decimal("0.7"))
    assert music is not None
    assert music.micros == 105_000 == music.budget.hold_micros(0)  # $0.10 × 1.5 × 0.7
    assert music.basis == {"markup": "1.5", "ratio": "0.7"}
    lyrics = price_of(SunoAction.LYRICS, catalog, Decimal("0.7"))
    assert lyrics is not None and lyrics.basis == {"ratio": "0.7"} and lyrics.micros == 7_000
