"""account.* — accounts and their balances."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tollway.accounts.model import Account, AccountStatus
from tollway.admin.commands._common import SignedUsd, Usd, finish_movement, micros_of, not_found, usd
from tollway.admin.registry import REGISTRY, AdminContext, Args, CommandError
from tollway.ids import account_id, movement_id
from tollway.ledger.model import HoldRejected, RejectReason


class CreateAccount(Args):
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(default="default", min_length=1, max_length=64)
    credit_usd: Usd | None = Field(default=None, description="Opening credit; default: the sign-up credit.")
    account_id: str | None = Field(default=None, pattern=r"^acct_[a-z0-9_\-]{4,64}$")


@REGISTRY.command("account.create", CreateAccount, summary="Create an account with its opening credit.")
def create_account(args: CreateAccount, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    credit = micros_of(args.credit_usd if args.credit_usd is not None else svc.settings.signup_credit_usd)
    now = context.clock_ms()
    account = Account(
        account_id=args.account_id or account_id(),
        name=args.name,
        group=args.group,
        status=AccountStatus.ACTIVE,
        balance=0,
        created_at=now,
    )
    try:
        movement = svc.accounts.create_account(
            account, initial_credit=credit, movement_id=movement_id(now), reason="signup", actor=context.actor, now=now
        )
    except ValueError as exc:
        raise CommandError("conflict", f"Account {account.account_id} already exists.") from exc
    finish_movement(context, movement)
    created = svc.accounts.get_account(account.account_id)
    if created is None:  # pragma: no cover - the write above succeeded
        raise not_found("account", account.account_id)
    return created.to_json()


class AccountRef(Args):
    account_id: str = Field(min_length=1)


@REGISTRY.command("account.get", AccountRef, mutating=False, summary="Show an account and its balance.")
def get_account(args: AccountRef, context: AdminContext) -> dict[str, Any]:
    account = context.services.accounts.get_account(args.account_id)
    if account is None:
        raise not_found("account", args.account_id)
    return account.to_json()


class CreditAccount(Args):
    account_id: str = Field(min_length=1)
    amount_usd: SignedUsd = Field(description="Positive to credit, negative to debit.")
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.command("account.credit", CreditAccount, summary="Credit (or debit) an account, with a reason.")
def credit_account(args: CreditAccount, context: AdminContext) -> dict[str, Any]:
    amount = micros_of(args.amount_usd)
    if amount == 0:
        raise CommandError("invalid_args", "amount_usd must not be zero.")
    now = context.clock_ms()
    try:
        movement = context.services.ledger.credit(
            args.account_id,
            amount,
            movement_id=movement_id(now),
            reason=f"adjustment: {args.reason}",
            actor=context.actor,
            now=now,
        )
    except HoldRejected as exc:
        if exc.reason is RejectReason.ACCOUNT_MISSING:
            raise not_found("account", args.account_id) from exc
        raise CommandError(
            "insufficient_balance",
            f"A debit of ${usd(-amount)} would take the balance below zero (balance ${usd(exc.account_balance or 0)}).",
        ) from exc
    finish_movement(context, movement)
    balance = context.services.ledger.balance(args.account_id)
    return {
        "account_id": args.account_id,
        "amount": amount,
        "balance": balance,
        "balance_usd": usd(balance or 0),
        "entry_id": movement.entries[0].entry_id,
    }
