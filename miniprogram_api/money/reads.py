"""What the account endpoints show of a payer: each of their cards' money (their own and their children's, which they
pay for) and whether the holder's deposit could be given back, composed from the money, accounts and counter
services for the reader's and the desk's views alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from backend.accounts.models import Reader, StaffUser
from backend.counter.models import LookupAction
from backend.counter.services import reader_at_desk
from backend.crypto import Keys
from backend.money import ledger
from backend.money.ledger import Account, ChargeLine, SettlementSeen
from backend.money.policy import MoneyPolicy
from backend.ratelimits import RateLimits


@dataclass(frozen=True, slots=True)
class CardMoney:
    card: Reader
    account: Account
    borrowing_blocked: bool
    """It owes more than the network lets a card owe and still borrow (`fees_owed`)."""


@dataclass(frozen=True, slots=True)
class AccountView:
    cards: list[CardMoney]
    """The holder's card first, then the children's cards they pay for."""
    deposit_refundable: bool
    """The holder's deposit could be given back now: one is held, nothing is on loan and nothing owed on the card."""

    @property
    def holder(self) -> CardMoney:
        return self.cards[0]

    @property
    def card_ids(self) -> list[int]:
        return [money.card.id for money in self.cards]


async def account_view(holder: Reader, children: Sequence[Reader], policy: MoneyPolicy) -> AccountView:
    """The holder's money and their children's: what each card owes and holds, and whether the holder's deposit could
    be given back now."""
    cards = []
    for card in (holder, *children):
        account = await ledger.account(card.id)
        cards.append(CardMoney(card, account, policy.blocks(account.owed_fen)))
    return AccountView(cards, await ledger.deposit_refusal(holder.id) is None)


@dataclass(frozen=True, slots=True)
class DeskAccount:
    reader: Reader  # with guardian and home library
    view: AccountView
    lines: tuple[list[ChargeLine], int]
    history: dict[int, list[SettlementSeen]]
    """What settled each of the lines, by charge id."""


async def desk_account(
    staff: StaffUser,
    card_number: str,
    *,
    keys: Keys,
    rate_limits: RateLimits,
    now: datetime,
    policy: MoneyPolicy,
    outstanding_only: bool,
    limit: int,
    offset: int,
) -> DeskAccount:
    """A reader's account as a desk sees it, their children's cards included (a guardian pays for them): a look-up of
    the reader and the children, logged as a view of them (`counter.reader_at_desk`)."""
    at = await reader_at_desk(staff, card_number, LookupAction.VIEW, keys=keys, rate_limits=rate_limits, now=now)
    view = await account_view(at.reader, at.children, policy)
    lines = await ledger.charge_lines(view.card_ids, outstanding_only=outstanding_only, limit=limit, offset=offset)
    return DeskAccount(at.reader, view, lines, await ledger.settlements_of([line.charge.id for line in lines[0]]))
