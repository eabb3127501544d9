"""What money does about other areas' events: a late return charges the overdue fee of the loan's terms, a copy
declared lost its replacement and the processing fee, and a card is removed only with nothing owed, no deposit and
no payment open."""

from __future__ import annotations

from functools import partial

from backend.accounts.domain_events import CardClosing
from backend.circulation import rules, services
from backend.circulation.domain_events import LoanClosed, LoanLost
from backend.circulation.models import Loan
from backend.eventbus import EventBus
from backend.money import desk, ledger
from backend.money.errors import CardHasMoney
from backend.money.models import Charge, ChargeKind, PaymentLine
from backend.money.policy import MoneyPolicy


def subscribe(bus: EventBus, policy: MoneyPolicy) -> None:
    bus.subscribe(LoanClosed, loan_closed)
    bus.subscribe(LoanLost, partial(loan_lost, policy))
    bus.subscribe(CardClosing, card_closing)


async def loan_closed(event: LoanClosed) -> None:
    """The overdue fee of a late return: per day, up to the cap, by the loan's terms (as the reader saw it grow),
    owed to the lending library. Once per loan, however often the event is handled (its occasion is unique)."""
    if event.reader_id is None or event.days_late <= 0:
        return
    loan = await Loan.get(id=event.loan_id).select_related("copy", "library")
    terms = services.terms_of(await rules.rule_table(), loan)
    amount = terms.overdue_fee_cents(event.days_late)
    if amount <= 0:
        return
    await Charge.bulk_create(
        [
            Charge(
                reader_id=event.reader_id,
                kind=ChargeKind.OVERDUE,
                amount_fen=amount,
                loan_id=loan.id,
                library_id=loan.library.id,
                occasion=f"overdue:loan:{loan.id}",
                created_at=event.at,
            )
        ],
        ignore_conflicts=True,
    )


async def loan_lost(policy: MoneyPolicy, event: LoanLost) -> None:
    """The replacement price and the processing fee of a copy declared lost, owed to its home library by the card
    that lost it. Once per loan, however often the event is handled."""
    if event.reader_id is None:
        return
    await desk.charge_for_copy(
        event.reader_id, event.copy_id, event.loan_id, ChargeKind.LOST, event.staff_id, "", event.at, policy
    )


async def card_closing(event: CardClosing) -> None:
    """A card about to be removed (a child's) must owe nothing, hold no deposit and be in no open payment: its lines
    outlive it without its name, and no money is left without a card to settle it on."""
    owed, deposit = await ledger.owed_fen(event.reader_id), await ledger.deposit_fen(event.reader_id)
    if owed or deposit or await PaymentLine.exists(charge__reader_id=event.reader_id, open=True):
        raise CardHasMoney(owed_fen=owed, deposit_fen=deposit)
