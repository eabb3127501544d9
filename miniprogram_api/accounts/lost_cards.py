"""A card reported lost: the reader in the app, the guardian for a child's card, or a librarian at any desk of the
network, for the reader in front of them. Each answers the card's new number."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import Provide

from backend.accounts import cards
from backend.accounts.errors import (
    CardNotCurrent,
    CardNumberInvalid,
    ChildNotFound,
    ReaderCardNotFound,
)
from backend.accounts.models import Reader, StaffUser
from backend.counter import services as counter
from backend.ratelimits import Kind, RateLimited
from entrypoints.bootstrap import Dependencies
from miniprogram_api.accounts.schemas import CardReplacementIn, CardReplacementOut, DeskCardReplacementIn
from miniprogram_api.deps import BEARER, HOLDER_PROBLEMS, STAFF_PROBLEMS, provide_child, provide_self
from miniprogram_api.errors import language_of, problems
from miniprogram_api.limits import rate_limited
from miniprogram_api.schemas import CardNumber


class LostCardController(Controller):
    path = "/readers/me"
    tags = ["Reader"]
    security = BEARER
    dependencies = {"holder": Provide(provide_self)}

    @post(
        "/card/replacement",
        status_code=200,
        responses=problems(*HOLDER_PROBLEMS, CardNumberInvalid, CardNotCurrent, RateLimited),
        # Each replacement takes a number of the network's sequence for good: a brake on a script spending them.
        guards=[rate_limited(Kind.CARD)],
    )
    async def replace_card(
        self, deps: Dependencies, holder: Reader, data: CardReplacementIn, request: Request[Any, Any, Any]
    ) -> CardReplacementOut:
        """Report the card lost and get a new card number at once: the old number, its QR codes already shown and
        the plastic card stop working at every desk and machine, while loans, holds, credit, reading history and
        bookings stay with the card under its new number. Ending the logins (a lost phone) does not keep out a phone
        still signed in to WeChat, which logs the app in again: the answer's `wechat_freeze_advice` says what to do."""
        done = await cards.report_lost(
            holder,
            data.card_number,
            end_sessions=data.end_sessions,
            card_prefix=deps.settings.network.card_prefix,
            now=deps.clock.now(),
            network_time=deps.network_time,
        )
        return CardReplacementOut.of(done, language_of(request))


class ChildLostCardController(LostCardController):
    """A child's card reported lost by the guardian."""

    path = "/readers/me/children/{child_id:int}"
    dependencies = {"holder": Provide(provide_child)}


class StaffLostCardController(Controller):
    path = "/staff"
    tags = ["Staff: circulation"]
    security = BEARER

    @post(
        "/readers/{card_number:str}/card-replacement",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, CardNumberInvalid, ReaderCardNotFound, ChildNotFound, RateLimited),
    )
    async def replace_card(
        self,
        deps: Dependencies,
        staff: StaffUser,
        card_number: CardNumber,
        data: DeskCardReplacementIn,
        request: Request[Any, Any, Any],
    ) -> CardReplacementOut:
        """Replace the card of the reader in front of the desk (any library's staff: one card for the whole
        network), recorded with who did it, and logged as a look-up of the reader (a reader outside my libraries
        spends one of my look-ups of such readers). Reported already: the answer is that report, no new number.
        Ending the reader's logins (a lost phone) does not keep out a phone still signed in to WeChat, which logs
        the mini-program in again by itself: tell the reader what the answer's `wechat_freeze_advice` says (freeze
        the WeChat account in WeChat's security centre), after which WeChat refuses that phone's logins."""
        done = await counter.replace_card(
            staff,
            deps.keys,
            deps.rate_limits,
            card_number,
            end_sessions=data.end_sessions,
            card_prefix=deps.settings.network.card_prefix,
            now=deps.clock.now(),
            network_time=deps.network_time,
        )
        return CardReplacementOut.of(done, language_of(request))
