"""Helpers shared by command modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator

from tollway.admin.registry import AdminContext, CommandError
from tollway.ledger.model import Movement
from tollway.money import MoneyError, format_usd, parse_usd

__all__ = ["Usd", "finish_movement", "micros_of", "usd"]


def _check_usd(value: str) -> str:
    try:
        parse_usd(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _check_signed_usd(value: str) -> str:
    try:
        parse_usd(value, allow_negative=True)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    return value


Usd = Annotated[str, AfterValidator(_check_usd)]
SignedUsd = Annotated[str, AfterValidator(_check_signed_usd)]


def micros_of(value: str) -> int:
    return int(parse_usd(value, allow_negative=True) * Decimal(1_000_000))


def usd(micros: int) -> str:
    return format_usd(micros)


def finish_movement(context: AdminContext, movement: Movement | None) -> None:
    """Write a credit's history and close its marker (maintenance repairs it if this fails)."""
    if movement is not None:
        context.services.biller.finish(movement)


def not_found(kind: str, ident: str) -> CommandError:
    return CommandError("not_found", f"No {kind} {ident!r}.")


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
