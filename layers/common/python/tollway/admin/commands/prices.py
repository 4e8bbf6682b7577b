"""price.* — model prices: the shipped price file, overlaid with the operator's overrides.

An override replaces a model's whole price (tokens, per call, images, audio, tiers, limits); removing
it brings the shipped price back (or leaves the model unpriced: refused with 404, never billed at a
guess). Locally the relay sees a change at once; on AWS within ``config_cache_ttl_s``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, ValidationError

from tollway.admin.commands._common import not_found
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import InvalidArguments
from tollway.pricing.markup import MARKUP_MAX, PATTERN, Markup, apply_markup, find_markup
from tollway.pricing.schema import ModelPrice, TokenPrices
from tollway.services import effective_prices

_MODEL = r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,127}$"


def _problems(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [{"field": ".".join([prefix, *(str(p) for p in e["loc"])]), "problem": e["msg"]} for e in exc.errors()]


def _validated(model: str, data: Any) -> ModelPrice:
    try:
        return ModelPrice.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, model)
        text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise InvalidArguments(f"Invalid price: {text}", details=problems) from exc


def _summary(model: str, price: ModelPrice, source: str) -> dict[str, Any]:
    tokens = price.tokens or TokenPrices()
    return {
        "model": model,
        "source": source,
        "input_per_1m": None if tokens.input is None else str(tokens.input),
        "cached_input_per_1m": None if tokens.cached_input is None else str(tokens.cached_input),
        "cache_write_per_1m": None if tokens.cache_write is None else str(tokens.cache_write),
        "cache_write_1h_per_1m": None if tokens.cache_write_1h is None else str(tokens.cache_write_1h),
        "output_per_1m": None if tokens.output is None else str(tokens.output),
        "per_call": None if price.per_call is None else str(price.per_call),
        "per_image": None if price.per_image is None else {k: str(v) for k, v in price.per_image.items()},
        "per_minute": None if price.per_minute is None else str(price.per_minute),
        "context_window": price.context_window,
        "max_output_tokens": price.max_output_tokens,
        "endpoints": price.endpoints,
    }


class SetPrice(Args):
    model: str = Field(pattern=_MODEL)
    price: dict[str, Any] | None = Field(
        default=None, description="A whole price as in the price file (replaces the model's price)."
    )
    input_per_1m: Decimal | None = Field(default=None, ge=0, description="USD per 1M input tokens.")
    cached_input_per_1m: Decimal | None = Field(default=None, ge=0)
    cache_write_per_1m: Decimal | None = Field(default=None, ge=0, description="Cache writes (Claude: 5-minute).")
    cache_write_1h_per_1m: Decimal | None = Field(default=None, ge=0, description="Claude's 1-hour cache writes.")
    output_per_1m: Decimal | None = Field(default=None, ge=0, description="USD per 1M output tokens.")
    per_call: Decimal | None = Field(default=None, ge=0, description="USD per call.")
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)


@REGISTRY.command("price.set", SetPrice, summary="Set a model's price (an override of the shipped price).")
def set_price(args: SetPrice, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    overrides = svc.config.list_prices()
    current = overrides.get(args.model) or effective_prices(svc.settings).models.get(args.model)
    if args.price is not None:
        data: dict[str, Any] = dict(args.price)
    else:
        data = {} if current is None else current.model_dump(exclude_none=True)
    tokens = dict(data.get("tokens") or {})
    for field, value in (
        ("input", args.input_per_1m),
        ("cached_input", args.cached_input_per_1m),
        ("cache_write", args.cache_write_per_1m),
        ("cache_write_1h", args.cache_write_1h_per_1m),
        ("output", args.output_per_1m),
    ):
        if value is not None:
            tokens[field] = value
    if tokens:
        data["tokens"] = tokens
    extra: dict[str, Any] = {
        "per_call": args.per_call,
        "context_window": args.context_window,
        "max_output_tokens": args.max_output_tokens,
    }
    data.update({k: v for k, v in extra.items() if v is not None})
    if not data:
        raise InvalidArguments("Give a price: --price '{...}' or at least one of the price options.")
    price = _validated(args.model, data)
    svc.config.put_price(args.model, price)
    svc.catalog.invalidate()
    return {**_summary(args.model, price, "override"), "price": price.model_dump(mode="json", exclude_none=True)}


class ListPrices(Args):
    model: str | None = Field(default=None, description="Only models whose name contains this.")
    source: Literal["all", "override", "shipped"] = "all"


@REGISTRY.command("price.list", ListPrices, mutating=False, summary="List effective model prices (markups applied).")
def list_prices(args: ListPrices, context: AdminContext) -> list[dict[str, Any]]:
    svc = context.services
    shipped = effective_prices(svc.settings).models
    overrides = svc.config.list_prices()
    markups = svc.config.list_markups()
    rows = []
    for model in sorted(shipped.keys() | overrides.keys()):
        if args.model is not None and args.model not in model:
            continue
        source = "override" if model in overrides else "shipped"
        if args.source != "all" and source != args.source:
            continue
        price = overrides.get(model)
        markup = None if price is not None else find_markup(model, markups)
        if price is None:
            price = shipped[model] if markup is None else apply_markup(shipped[model], markup.multiplier)
        row = _summary(model, price, source)
        row["markup"] = None if markup is None else str(markup.multiplier)
        rows.append(row)
    return rows


class SetMarkup(Args):
    pattern: str = Field(
        pattern=PATTERN, description="A model name, or a pattern with * and ? (gpt-4*: the GPT-4 family)."
    )
    multiplier: Decimal = Field(gt=0, le=MARKUP_MAX, description="Times the shipped list price (2: double).")
    note: str = Field(default="", max_length=200, description="Why, for the next operator.")


def _markup_matches(context: AdminContext, markup: Markup) -> list[str]:
    """The shipped models this markup decides (a more specific markup may win for some of a pattern)."""
    svc = context.services
    markups = {**svc.config.list_markups(), markup.pattern: markup}
    overrides = svc.config.list_prices()
    shipped = effective_prices(svc.settings).models
    return sorted(
        m
        for m in shipped
        if m not in overrides and (found := find_markup(m, markups)) and found.pattern == markup.pattern
    )


@REGISTRY.command(
    "price.markup-set", SetMarkup, summary="Set a markup: a multiplier on the shipped price of a model or pattern."
)
def set_markup(args: SetMarkup, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    markup = Markup(
        pattern=args.pattern,
        multiplier=args.multiplier.normalize(),
        note=args.note,
        updated_at=context.clock_ms(),
        updated_by=context.actor,
    )
    models = _markup_matches(context, markup)
    svc.config.put_markup(markup)
    svc.catalog.invalidate()
    result = {**markup.to_json(), "models": models}
    if not models:
        result["warning"] = "No shipped model without an override matches this pattern (yet)."
    return result


class ListMarkups(Args):
    pass


@REGISTRY.command("price.markup-list", ListMarkups, mutating=False, summary="List markups and the models each prices.")
def list_markups(args: ListMarkups, context: AdminContext) -> list[dict[str, Any]]:
    markups = context.services.config.list_markups()
    return [{**m.to_json(), "models": _markup_matches(context, m)} for _, m in sorted(markups.items())]


class MarkupRef(Args):
    pattern: str = Field(min_length=1, description="The model name or pattern the markup was set for.")


@REGISTRY.command("price.markup-remove", MarkupRef, summary="Remove a markup (the list price applies again).")
def remove_markup(args: MarkupRef, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    if not svc.config.delete_markup(args.pattern):
        raise not_found("markup for", args.pattern)
    svc.catalog.invalidate()
    return {"pattern": args.pattern, "removed": True}


class ModelRef(Args):
    model: str = Field(min_length=1)


@REGISTRY.command("price.remove", ModelRef, summary="Remove a price override (the shipped price applies again).")
def remove_price(args: ModelRef, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    if not svc.config.delete_price(args.model):
        raise not_found("price override for", args.model)
    svc.catalog.invalidate()
    shipped = args.model in effective_prices(svc.settings).models
    return {"model": args.model, "removed": True, "now": "shipped price" if shipped else "unpriced (refused)"}


class ImportPrices(Args):
    prices: dict[str, Any] = Field(description="A price file ({'models': {...}}) or a map of model → price.")
    replace: bool = Field(default=False, description="Also remove overrides the file does not name.")


@REGISTRY.command("price.import", ImportPrices, summary="Import price overrides from a price file (all or nothing).")
def import_prices(args: ImportPrices, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    models = args.prices.get("models", args.prices)
    if not isinstance(models, dict) or not models:
        raise InvalidArguments("The price file names no models.")
    problems: list[dict[str, str]] = []
    parsed: dict[str, ModelPrice] = {}
    for model, data in models.items():
        try:
            parsed[str(model)] = ModelPrice.model_validate(data)
        except ValidationError as exc:
            problems.extend(_problems(exc, str(model)))
    if problems:  # validated as a whole first: nothing is written from a file with an error
        text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:10])
        raise InvalidArguments(f"Invalid price file: {text}", details=problems)
    before = svc.config.list_prices()
    removed = sorted(set(before) - set(parsed)) if args.replace else []
    try:
        for model, price in parsed.items():
            svc.config.put_price(model, price)
        for model in removed:
            svc.config.delete_price(model)
    except Exception:
        _restore(context, before, parsed)
        raise
    finally:
        svc.catalog.invalidate()
    return {"imported": len(parsed), "removed": removed, "overrides": len(svc.config.list_prices())}


def _restore(context: AdminContext, before: dict[str, ModelPrice], written: dict[str, ModelPrice]) -> None:
    """Put the overrides back as they were (an import is all or nothing)."""
    config = context.services.config
    for model in written:
        if model not in before:
            config.delete_price(model)
    for model, price in before.items():
        config.put_price(model, price)


class ExportPrices(Args):
    scope: Literal["effective", "overrides"] = "effective"


@REGISTRY.command("price.export", ExportPrices, mutating=False, summary="Export prices as a price file.")
def export_prices(args: ExportPrices, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    overrides = svc.config.list_prices()
    models = dict(overrides) if args.scope == "overrides" else {**effective_prices(svc.settings).models, **overrides}
    return {
        "version": 1,
        "currency": "USD",
        "source": f"tollway price export ({args.scope})",
        "as_of": datetime.now(tz=UTC).date().isoformat(),
        "models": {m: models[m].model_dump(mode="json", exclude_none=True) for m in sorted(models)},
    }
