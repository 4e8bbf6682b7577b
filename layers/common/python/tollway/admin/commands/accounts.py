"""account.* — accounts and their balances."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tollway.accounts.model import Account, AccountStatus
from tollway.accounts.ports import NotFoundError
from tollway.admin.commands._common import (
    SignedUsd,
    Usd,
    finish_movement,
    forget_account_keys,
    micros_of,
    not_found,
    require_group,
    usd,
)
from tollway.admin.registry import REGISTRY, AdminContext, Args
from tollway.errors import Conflict, InsufficientBalance, InvalidArguments
from tollway.ids import account_id as new_account_id
from tollway.ids import movement_id
from tollway.ledger.model import HoldRejected, RejectReason
from tollway.services import Services


class CreateAccount(Args):
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(default="default", min_length=1, max_length=64)
    credit_usd: Usd | None = Field(default=None, description="Opening credit; default: the sign-up credit.")
    account_id: str | None = Field(default=None, pattern=r"^acct_[a-z0-9_\-]{4,64}$")


@REGISTRY.command("account.create", CreateAccount, summary="Create an account with its opening credit.")
def create_account(args: CreateAccount, context: AdminContext) -> dict[str, Any]:
    svc = context.services
    require_group(context, args.group)
    credit = micros_of(args.credit_usd if args.credit_usd is not None else svc.settings.signup_credit_usd)
    try:
        created = open_account(
            svc,
            name=args.name,
            group=args.group,
            credit=credit,
            actor=context.actor,
            now=context.clock_ms(),
            account_id=args.account_id,
        )
    except ValueError as exc:
        raise Conflict(f"Account {args.account_id} already exists.") from exc
    return created.to_json()


def open_account(
    svc: Services, *, name: str, group: str, credit: int, actor: str | None, now: int, account_id: str | None = None
) -> Account:
    """Create an account holding ``credit`` (one ledger entry, reason "signup"), as ``account.create`` and
    the console's sign-up both do. Raises ValueError if ``account_id`` exists (no second credit)."""
    account = Account(
        account_id=account_id or new_account_id(),
        name=name,
        group=group,
        status=AccountStatus.ACTIVE,
        balance=0,
        created_at=now,
    )
    movement = svc.accounts.create_account(
        account, initial_credit=credit, movement_id=movement_id(now), reason="signup", actor=actor, now=now
    )
    if movement is not None:
        svc.biller.finish(movement)  # the credit's history; maintenance repairs it if this fails
    created = svc.accounts.get_account(account.account_id)
    if created is None:  # pragma: no cover - the write above succeeded
        raise LookupError(account.account_id)
    return created


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
    return _adjust(args.account_id, micros_of(args.amount_usd), args.reason, context)


class DebitAccount(Args):
    account_id: str = Field(min_length=1)
    amount_usd: Usd = Field(description="The amount to take (never below a zero balance).")
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.command("account.debit", DebitAccount, summary="Debit an account, with a reason (never below zero).")
def debit_account(args: DebitAccount, context: AdminContext) -> dict[str, Any]:
    return _adjust(args.account_id, -micros_of(args.amount_usd), args.reason, context)


def _adjust(account: str, amount: int, reason: str, context: AdminContext) -> dict[str, Any]:
    """An operator adjustment: a ledger entry like any other (a conditional write; debits never go below
    zero)."""
    if amount == 0:
        raise InvalidArguments("amount_usd must not be zero.")
    now = context.clock_ms()
    try:
        movement = context.services.ledger.credit(
            account,
            amount,
            movement_id=movement_id(now),
            reason=f"adjustment: {reason}",
            actor=context.actor,
            now=now,
        )
    except HoldRejected as exc:
        if exc.reason is RejectReason.ACCOUNT_MISSING:
            raise not_found("account", account) from exc
        raise InsufficientBalance(
            f"A debit of ${usd(-amount)} would take the balance below zero (balance ${usd(exc.account_balance or 0)}).",
        ) from exc
    finish_movement(context, movement)
    balance = context.services.ledger.balance(account)
    return {
        "kind": movement.entries[0].kind.value,
        "account_id": account,
        "amount": amount,
        "balance": balance,
        "balance_usd": usd(balance or 0),
        "amount_usd": usd(amount),
        "entry_id": movement.entries[0].entry_id,
        "reason": movement.entries[0].reason,
    }


class ListAccounts(Args):
    group: str | None = None
    status: Literal["active", "disabled"] | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = None


@REGISTRY.command("account.list", ListAccounts, mutating=False, summary="List accounts (paged; by group/status).")
def list_accounts(args: ListAccounts, context: AdminContext) -> dict[str, Any]:
    try:
        page = context.services.accounts.list_accounts(
            group=args.group,
            status=None if args.status is None else AccountStatus(args.status),
            limit=args.limit,
            cursor=args.cursor,
        )
    except ValueError as exc:
        raise InvalidArguments(str(exc)) from exc
    rows = [{k: v for k, v in a.to_json().items() if k != "settings"} for a in page.accounts]
    return {"accounts": rows, "next_cursor": page.next_cursor}


class SetGroup(Args):
    account_id: str = Field(min_length=1)
    group: str = Field(min_length=1, max_length=64)


@REGISTRY.command("account.set-group", SetGroup, summary="Move an account to another group (price and channels).")
def set_group(args: SetGroup, context: AdminContext) -> dict[str, Any]:
    require_group(context, args.group)
    try:
        account = context.services.accounts.set_account_group(args.account_id, args.group)
    except NotFoundError as exc:
        raise not_found("account", args.account_id) from exc
    forget_account_keys(context, args.account_id)
    return account.to_json()


def _status(args: AccountRef, context: AdminContext, status: AccountStatus) -> dict[str, Any]:
    try:
        account = context.services.accounts.set_account_status(args.account_id, status)
    except NotFoundError as exc:
        raise not_found("account", args.account_id) from exc
    forget_account_keys(context, args.account_id)
    return account.to_json()


@REGISTRY.command("account.disable", AccountRef, summary="Disable an account: its keys are refused at once (403).")
def disable_account(args: AccountRef, context: AdminContext) -> dict[str, Any]:
    return _status(args, context, AccountStatus.DISABLED)


@REGISTRY.command("account.enable", AccountRef, summary="Enable a disabled account.")
def enable_account(args: AccountRef, context: AdminContext) -> dict[str, Any]:
    return _status(args, context, AccountStatus.ACTIVE)
