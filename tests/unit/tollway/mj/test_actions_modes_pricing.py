"""Pure rules: buttons and changes → actions and price keys, path prefixes and prompt flags → modes,
the shipped price table (the seed site's three types) with group ratios, task states' order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.config.catalog import Catalog, marked_up
from tollway.mj.actions import ACTIONS, ActionError, action_of_change, action_of_custom_id, parse_simple_change
from tollway.mj.model import ImageMode, Mode, TaskStatus, progress_percent, rank_of
from tollway.mj.modes import (
    ModeError,
    PathModes,
    apply_mode_flag,
    mode_of_prompt,
    parse_prefix,
    resolve_image_mode,
    resolve_mode,
)
from tollway.mj.pricing import price_of
from tollway.pricing.markup import Markup
from tollway.pricing.schema import shipped_prices

H = "8f2c6e1a-1111-2222-3333-444455556666"


@pytest.mark.parametrize(
    ("custom_id", "action", "price_name"),
    [
        (f"MJ::JOB::upsample::1::{H}", "UPSCALE", "upscale"),
        (f"MJ::JOB::upsample::4::{H}", "UPSCALE", "upscale"),
        (f"MJ::JOB::upsample_v6_2x_subtle::1::{H}::SOLO", "UPSCALE_HD", "upscale_hd"),
        (f"MJ::JOB::upsample_v5_4x::1::{H}::SOLO", "UPSCALE_HD", "upscale_hd"),
        (f"MJ::JOB::variation::2::{H}", "VARIATION", "variation"),
        (f"MJ::JOB::high_variation::1::{H}::SOLO", "HIGH_VARIATION", "variation"),
        (f"MJ::JOB::low_variation::1::{H}::SOLO", "LOW_VARIATION", "variation"),
        (f"MJ::JOB::reroll::0::{H}::SOLO", "REROLL", "reroll"),
        (f"MJ::Outpaint::50::1::{H}::SOLO", "ZOOM", "zoom"),
        (f"MJ::CustomZoom::{H}", "CUSTOM_ZOOM", "zoom"),
        (f"MJ::Inpaint::1::{H}::SOLO", "INPAINT", "inpaint"),
        (f"MJ::JOB::pan_left::1::{H}::SOLO", "PAN", "pan"),
        (f"MJ::JOB::pan_down::1::{H}::SOLO", "PAN", "pan"),
        (f"MJ::JOB::animate_high::1::{H}::SOLO", "VIDEO", "video"),
        ("MJ::Job::PicReader::2", "PIC_READER", "pic_reader"),
        ("MJ::Picread::Retry", "PIC_READER_RETRY", "pic_reader_retry"),
    ],
)
def test_buttons_are_recognised(custom_id: str, action: str, price_name: str) -> None:
    spec = action_of_custom_id(custom_id)
    assert (spec.action, spec.price_name) == (action, price_name)
    assert spec.modal is (action in ("CUSTOM_ZOOM", "INPAINT"))


@pytest.mark.parametrize("custom_id", ["", "MJ", "upsample", "XX::JOB::upsample::1", "MJ::BOOKMARK::abc", "MJ::JOB::"])
def test_other_custom_ids_are_refused(custom_id: str) -> None:
    with pytest.raises(ActionError):
        action_of_custom_id(custom_id)


def test_changes_and_simple_changes() -> None:
    assert action_of_change("upscale", 1).action == "UPSCALE"
    assert action_of_change("VARIATION", 4).action == "VARIATION"
    assert action_of_change("REROLL", None).action == "REROLL"
    for action, index in (("UPSCALE", 0), ("UPSCALE", 5), ("VARIATION", None), ("ZOOM", 1)):
        with pytest.raises(ActionError):
            action_of_change(action, index)
    assert parse_simple_change("1730621826053455 u2") == ("1730621826053455", "UPSCALE", 2)
    assert parse_simple_change(" 17 V4 ") == ("17", "VARIATION", 4)
    assert parse_simple_change("17 r") == ("17", "REROLL", 1)
    for bad in ("17 U5", "U1 17", "17", "abc U1", ""):
        with pytest.raises(ActionError):
            parse_simple_change(bad)


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("mj", PathModes()),
        ("mj-fast", PathModes(Mode.FAST)),
        ("mj-relax", PathModes(Mode.RELAX)),
        ("mj-turbo-relay", PathModes(Mode.TURBO, ImageMode.RELAY)),
        ("mj-origin-relax", PathModes(Mode.RELAX, ImageMode.ORIGIN)),
        ("mj-proxy", PathModes(None, ImageMode.PROXY)),
        ("MJ-Fast", PathModes(Mode.FAST)),
        ("mj-slow", None),
        ("mj-fast-fast", None),
        ("v1", None),
        ("mjx", None),
    ],
)
def test_path_prefixes(segment: str, expected: PathModes | None) -> None:
    assert parse_prefix(segment) == expected


def test_prompt_flags() -> None:
    assert mode_of_prompt("a cat --relax --ar 16:9") is Mode.RELAX
    assert mode_of_prompt("a cat --relax --turbo") is Mode.TURBO  # the last one, as Midjourney reads it
    assert mode_of_prompt("a cat --relaxed --fastest") is None
    assert mode_of_prompt("") is None
    assert apply_mode_flag("a cat --relax --ar 16:9", Mode.FAST) == "a cat --ar 16:9 --fast"
    assert apply_mode_flag("a cat", Mode.TURBO) == "a cat --turbo"


def test_mode_precedence_and_the_groups_allow_list() -> None:
    def resolve(**changes: object) -> Mode:
        args: dict[str, object] = {
            "path": None,
            "prompt": "",
            "parent": None,
            "key_default": None,
            "operator_default": "fast",
            "allowed": None,
        }
        args.update(changes)
        return resolve_mode(**args)  # type: ignore[arg-type]

    assert resolve() is Mode.FAST
    assert resolve(key_default="relax") is Mode.RELAX
    assert resolve(key_default="bogus") is Mode.FAST
    assert resolve(key_default="relax", parent=Mode.TURBO) is Mode.TURBO
    assert resolve(key_default="relax", parent=Mode.TURBO, prompt="x --fast") is Mode.FAST
    assert resolve(key_default="relax", prompt="x --fast", path=Mode.TURBO) is Mode.TURBO
    assert resolve(allowed=["relax", "fast"]) is Mode.FAST
    with pytest.raises(ModeError, match="turbo"):
        resolve(path=Mode.TURBO, allowed=["relax", "fast"])
    with pytest.raises(ModeError):
        resolve(allowed=[])
    assert resolve_image_mode(path=None, key_default=None, operator_default="relay") is ImageMode.RELAY
    assert resolve_image_mode(path=None, key_default="origin", operator_default="relay") is ImageMode.ORIGIN
    assert resolve_image_mode(path=ImageMode.PROXY, key_default="origin", operator_default="relay") is ImageMode.PROXY


def _catalog() -> Catalog:
    return Catalog(prices=dict(shipped_prices().models), groups={}, channels=())


@pytest.mark.parametrize(
    ("action", "mode", "key", "micros"),
    [
        ("IMAGINE", Mode.RELAX, "mj_relax_imagine", 120_000),
        ("IMAGINE", Mode.FAST, "mj_fast_imagine", 200_000),
        ("IMAGINE", Mode.TURBO, "mj_turbo_imagine", 400_000),
        ("VARIATION", Mode.FAST, "mj_fast_variation", 200_000),
        ("REROLL", Mode.RELAX, "mj_relax_reroll", 120_000),
        ("ZOOM", Mode.TURBO, "mj_turbo_zoom", 400_000),
        ("PAN", Mode.FAST, "mj_fast_pan", 200_000),
        ("BLEND", Mode.FAST, "mj_fast_blend", 200_000),
        ("INPAINT", Mode.RELAX, "mj_relax_inpaint", 120_000),
        ("UPSCALE_HD", Mode.FAST, "mj_fast_upscale_hd", 200_000),
        ("PIC_READER", Mode.FAST, "mj_fast_pic_reader", 200_000),
        ("UPSCALE", Mode.TURBO, "mj_upscale", 70_000),  # type 2: the same in every mode
        ("DESCRIBE", Mode.RELAX, "mj_describe", 70_000),
        ("PIC_READER_RETRY", Mode.FAST, "mj_pic_reader_retry", 70_000),
        ("SWAP_FACE", Mode.FAST, "mj_swap_face", 70_000),
        ("SHORTEN", Mode.FAST, "mj_shorten", 70_000),
        ("MODAL", Mode.TURBO, "mj_modal", 0),  # type 3: free
    ],
)
def test_the_shipped_price_table(action: str, mode: Mode, key: str, micros: int) -> None:
    price = price_of(ACTIONS[action], mode, _catalog(), Decimal(1))
    assert price is not None
    assert (price.key, price.micros, price.budget.hold_micros(0)) == (key, micros, micros)


def test_group_ratios_apply_and_an_unpriced_action_is_refused() -> None:
    price = price_of(ACTIONS["IMAGINE"], Mode.FAST, _catalog(), Decimal("0.8"))
    assert price is not None and price.micros == 160_000
    odd = price_of(ACTIONS["UPSCALE"], Mode.FAST, _catalog(), Decimal("0.3333333"))
    assert odd is not None and odd.micros == 23_334  # 0.07 × 0.3333333 = 0.023333331, rounded up once
    catalog = Catalog(prices={}, groups={}, channels=())
    assert price_of(ACTIONS["IMAGINE"], Mode.FAST, catalog, Decimal(1)) is None
    # An operator price for the base key serves every mode that has no price of its own.
    base_only = dict(shipped_prices().models)
    base_only["mj_imagine"] = base_only.pop("mj_relax_imagine")
    found = price_of(ACTIONS["IMAGINE"], Mode.RELAX, Catalog(prices=base_only, groups={}, channels=()), Decimal(1))
    assert found is not None and found.key == "mj_imagine"


def test_a_markup_is_in_the_price_and_named_in_its_basis_with_the_group_ratio() -> None:
    shipped = shipped_prices().models
    markups = {"mj_fast_*": Markup(pattern="mj_fast_*", multiplier=Decimal("2.5"))}
    prices, applied = marked_up(shipped, markups)
    catalog = Catalog(prices=prices, groups={}, channels=(), markups=applied)
    fast = price_of(ACTIONS["IMAGINE"], Mode.FAST, catalog, Decimal("0.7"))
    assert fast is not None and fast.basis == {"markup": "2.5", "ratio": "0.7"}
    assert fast.micros == 350_000 == fast.budget.hold_micros(0)  # $0.20 × 2.5 × 0.7, rounded up once
    relax = price_of(ACTIONS["IMAGINE"], Mode.RELAX, catalog, Decimal(1))
    assert relax is not None and relax.basis == {} and relax.micros == 120_000  # the plain list price


def test_every_mj_price_is_per_call_and_only_for_the_mj_endpoint() -> None:
    mj = {k: v for k, v in shipped_prices().models.items() if k.startswith("mj_")}
    assert len(mj) == 11 * 3 + 6 + 1
    assert all(p.per_call is not None and p.endpoints == ["mj"] for p in mj.values())


def test_states_only_rank_forward() -> None:
    order = [
        rank_of(TaskStatus.NOT_START),
        rank_of(TaskStatus.SUBMITTED),
        rank_of(TaskStatus.MODAL),
        rank_of(TaskStatus.IN_PROGRESS, "0%"),
        rank_of(TaskStatus.IN_PROGRESS, "42%"),
        rank_of(TaskStatus.IN_PROGRESS, "100%"),
        rank_of(TaskStatus.SUCCESS),
    ]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert rank_of(TaskStatus.FAILURE, "") == rank_of(TaskStatus.SUCCESS, "100%") == rank_of(TaskStatus.CANCEL)
    assert [progress_percent(p) for p in ("", "7%", "7.5%", " 99 % ", "250%", "x")] == [0, 7, 7, 99, 100, 0]
