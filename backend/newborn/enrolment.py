"""Enrolling a child in a newborn programme, by a partner ward's code or in the app, both ending in the same enrolment;
the guardian's enrolments and consents; consent ending (withdrawn, retention, the card closed), which deletes the
programme record; and what staff and enrollers see of enrolments, every read logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from backend import paging
from backend.accounts import services as accounts
from backend.accounts.ages import age_in_months
from backend.accounts.domain_events import CardClosing
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.staff import authority_scope, require_role
from backend.clock import NetworkTime
from backend.counter.models import LookupAction, LookupBy, ReaderLookup
from backend.crypto import Keys
from backend.eventbus import EventBus, record
from backend.network.models import Library
from backend.network.services import in_scope
from backend.newborn import partners, programmes
from backend.newborn.domain_events import ChildEnrolled, ConsentWithdrawn
from backend.newborn.errors import (
    ChildAlreadyEnrolled,
    ChildOutsideStages,
    ChildRequired,
    CollectionLibraryInvalid,
    ConsentOutdated,
    ConsentRequired,
    ConsentTextMissing,
    EnrolmentNotFound,
    EnrolmentWayRequired,
    PhoneRequired,
    ProgrammeClosed,
    ProgrammeNotFound,
)
from backend.newborn.models import (
    Consent,
    ConsentEnd,
    Enrolment,
    EnrolmentChannel,
    Partner,
    Programme,
    Stage,
    Ward,
)
from backend.newborn.programmes import ProgrammeView

# What a view of an enrolment shows with it.
_RELATED = ("programme", "child", "library", "partner", "ward", "stage", "consent__text")


@dataclass(frozen=True, slots=True)
class EnrolmentRequest:
    code: str | None
    """A partner ward's scanned enrolment code (its scene)."""
    programme_id: int | None
    """Without a code: the programme to enrol in."""
    library_code: str | None
    """Where packs are collected: required without a code; with one, instead of the partner's library."""
    child_id: int | None
    """A child card the guardian holds; or `child_name`."""
    child_name: str | None
    born: date
    consent_version: int
    """The version of the consent text the guardian read and agreed to."""
    consent: bool


@dataclass(frozen=True, slots=True)
class WayIn:
    programme: Programme  # with its library
    partner: Partner | None
    ward: Ward | None
    library: Library


async def read_code(keys: Keys, scene: str) -> tuple[Ward, ProgrammeView]:
    """What a scanned ward code enrols in: the ward with its partner, and the programme with its stages and the
    consent text the guardian is asked to agree to."""
    ward = await partners.ward_for_scene(keys, scene)
    view = await programmes.programme_view(ward.partner.programme_id)
    if view.consent is None:
        raise ConsentTextMissing()
    return ward, view


async def enrol(
    guardian: Reader,
    request: EnrolmentRequest,
    *,
    keys: Keys,
    card_prefix: str,
    now: datetime,
    network_time: NetworkTime,
    bus: EventBus,
) -> Enrolment:
    """Enrol a child: the guardian (logged in with WeChat, with a bound phone) gives the child's name and date of birth
    or picks a child card they hold, and consents separately to the current consent text. The child's little reader
    card is the one held, or a new one. One enrolment per child, whichever partners enrol them at once."""
    if not request.consent:
        raise ConsentRequired()
    if guardian.phone_encrypted is None:
        raise PhoneRequired()
    if (request.child_id is None) == (request.child_name is None):
        raise ChildRequired()
    way = await _way_in(keys, request)
    consent_text = await programmes.current_consent(way.programme)
    if consent_text is None:
        raise ConsentTextMissing()
    if consent_text.version != request.consent_version:
        raise ConsentOutdated(version=consent_text.version)
    age = age_in_months(request.born, network_time.day(now))
    async with bus.transaction():
        # One family's requests take turns here (two hospitals' codes scanned at once, a double tap): the second finds
        # the card the first opened and its enrolment. The unique child of an enrolment and the unique guardian, name
        # and date of birth of a card hold whatever else happens.
        await Reader.select_for_update().get(id=guardian.id)
        # The programme and its stages as they are now, held by the lock a foreign key takes (enrolments at once do
        # not queue on it): staff changing the stages lock the programme first, so they wait for this enrolment and
        # then find its stage in use (StageInUse), or this enrolment waits for them and reads their stages.
        conn, programme_id = connections.get("default"), [way.programme.id]
        await conn.execute_query("SELECT 1 FROM newborn_programme WHERE id = $1 FOR KEY SHARE", programme_id)
        await conn.execute_query("SELECT 1 FROM newborn_stage WHERE programme_id = $1 FOR KEY SHARE", programme_id)
        stages = await Stage.filter(programme=way.programme).order_by("min_age_months", "id")
        if not stages or age >= (last := max(stage.max_age_months for stage in stages)):
            raise ChildOutsideStages(months=last if stages else 0)
        child = await _child_card(guardian, request, card_prefix, now, network_time)
        if await Enrolment.filter(child=child).exists():
            raise ChildAlreadyEnrolled()
        consent = await Consent.create(guardian=guardian, text=consent_text, given_at=now)
        stage = programmes.stage_at(stages, age)
        try:
            enrolment = await Enrolment.create(
                programme=way.programme,
                child=child,
                guardian=guardian,
                consent=consent,
                channel=EnrolmentChannel.PARTNER if way.partner else EnrolmentChannel.APP,
                partner=way.partner,
                ward=way.ward,
                library=way.library,
                stage=stage,
                enrolled_at=now,
            )
        except IntegrityError as exc:
            raise ChildAlreadyEnrolled() from exc
        await _count(enrolment, network_time, enrolled=1)
        record(
            ChildEnrolled(
                enrolment.id,
                way.programme.id,
                child.id,
                guardian.id,
                way.library.id,
                way.partner.id if way.partner else None,
                stage.id if stage else None,
                now,
            )
        )
    return await my_enrolment(guardian, enrolment.id)


async def _way_in(keys: Keys, request: EnrolmentRequest) -> WayIn:
    if (request.code is None) == (request.programme_id is None):
        raise EnrolmentWayRequired()
    if request.code is not None:
        ward = await partners.ward_for_scene(keys, request.code)
        partner = ward.partner
        programme = partner.programme
        library = partner.library if request.library_code is None else await _library(request.library_code)
        return WayIn(programme, partner, ward, _collecting(programme, library))
    if request.library_code is None:
        raise EnrolmentWayRequired()
    found = await Programme.get_or_none(id=request.programme_id).select_related("library")
    if found is None:
        raise ProgrammeNotFound()
    if not found.active:
        raise ProgrammeClosed()
    return WayIn(found, None, None, _collecting(found, await _library(request.library_code)))


async def _library(code: str) -> Library:
    library = await Library.get_or_none(code=code)
    if library is None:
        raise CollectionLibraryInvalid()
    return library


def _collecting(programme: Programme, library: Library) -> Library:
    """A library where the programme's families collect packs: open, and in the programme's part of the network."""
    if not library.active or not in_scope(library, programme.library.path):
        raise CollectionLibraryInvalid()
    return library


async def _child_card(
    guardian: Reader, request: EnrolmentRequest, card_prefix: str, now: datetime, network_time: NetworkTime
) -> Reader:
    if request.child_id is not None:
        # The card held gets the day of birth the programme counts its stages from.
        return await accounts.correct_child(
            guardian,
            request.child_id,
            name=None,
            birth_month=None,
            born=request.born,
            now=now,
            network_time=network_time,
        )
    assert request.child_name is not None
    return await accounts.child_card_born(
        guardian,
        name=request.child_name,
        born=request.born,
        card_prefix=card_prefix,
        now=now,
        network_time=network_time,
    )


async def _count(enrolment: Enrolment, network_time: NetworkTime, *, enrolled: int = 0, withdrawn: int = 0) -> None:
    """Add to the anonymous counts of the enrolment's programme, partner, library and month (of the network's
    calendar, the month it was made): one statement, so concurrent enrolments and withdrawals lose none."""
    month = network_time.day(enrolment.enrolled_at).replace(day=1)
    await connections.get("default").execute_query(
        "INSERT INTO newborn_enrolment_tally (programme_id, partner_id, library_id, month, enrolled, withdrawn) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT ON CONSTRAINT newborn_enrolment_tally_key DO UPDATE SET "
        "enrolled = newborn_enrolment_tally.enrolled + EXCLUDED.enrolled, "
        "withdrawn = newborn_enrolment_tally.withdrawn + EXCLUDED.withdrawn",
        [enrolment.programme_id, enrolment.partner_id, enrolment.library_id, month, enrolled, withdrawn],
    )


async def my_enrolments(guardian: Reader, *, limit: int, offset: int) -> tuple[list[Enrolment], int]:
    """The guardian's children's enrolments, newest first."""
    found = Enrolment.filter(guardian=guardian).select_related(*_RELATED).order_by("-enrolled_at", "-id")
    return await paging.page(found, limit, offset)


async def my_enrolment(guardian: Reader, enrolment_id: int) -> Enrolment:
    """One of the guardian's children's enrolments; anyone else's is not found."""
    enrolment = await Enrolment.get_or_none(id=enrolment_id, guardian=guardian).select_related(*_RELATED)
    if enrolment is None:
        raise EnrolmentNotFound()
    return enrolment


async def my_consents(guardian: Reader, *, limit: int, offset: int) -> tuple[list[Consent], int]:
    """Every consent the guardian gave, to which text and when, and when it ended: newest first."""
    found = Consent.filter(guardian=guardian).select_related("text__programme").order_by("-given_at", "-id")
    return await paging.page(found, limit, offset)


async def withdraw_consent(
    guardian: Reader, enrolment_id: int, now: datetime, network_time: NetworkTime, bus: EventBus
) -> None:
    """The guardian withdraws consent (PIPL art. 15, 47): processing ends and the programme record is deleted. The
    child's card stays, under its own rules (the guardian removes it separately)."""
    if not await Enrolment.filter(id=enrolment_id, guardian=guardian).exists():
        raise EnrolmentNotFound()
    await end_enrolment(enrolment_id, ConsentEnd.WITHDRAWN, now, network_time, bus)


async def end_enrolment(
    enrolment_id: int, reason: ConsentEnd, now: datetime, network_time: NetworkTime, bus: EventBus
) -> None:
    """End the consent behind an enrolment and delete the enrolment with everything personal hanging off it: the
    consent row keeps only that consent was given and ended, and the counts keep the enrolment and its withdrawal.
    `ConsentWithdrawn` is handled first, while the row is locked and still there. The one way an enrolment ends: the
    guardian withdrawing, the card closing, the retention job."""
    async with bus.transaction():
        enrolment = await Enrolment.select_for_update().get_or_none(id=enrolment_id)
        if enrolment is None:  # ended meanwhile (a second tap): nothing is left to end
            raise EnrolmentNotFound()
        async with bus.transaction():  # a savepoint whose handlers run now, before the rows they concern are deleted
            record(
                ConsentWithdrawn(
                    enrolment.id,
                    enrolment.programme_id,
                    enrolment.child_id,
                    enrolment.guardian_id,
                    enrolment.library_id,
                    reason,
                    now,
                )
            )
        await Consent.filter(id=enrolment.consent_id).update(ended_at=now, ended_by=reason)
        # The figures' "withdrawn" is the guardian's choice; ending at the retention period or with the card is not.
        if reason is ConsentEnd.WITHDRAWN:
            await _count(enrolment, network_time, withdrawn=1)
        await enrolment.delete()


async def card_closing(bus: EventBus, network_time: NetworkTime, event: CardClosing) -> None:
    """A child's card being removed ends its enrolment first, so the areas that keep something for the enrolment
    close it by their rules (`ConsentWithdrawn`) before the card's cascade would drop it."""
    enrolment = await Enrolment.get_or_none(child_id=event.reader_id)  # a child is enrolled once
    if enrolment is not None:
        await end_enrolment(enrolment.id, ConsentEnd.CARD_CLOSED, event.at, network_time, bus)


async def staff_enrolments(
    staff: StaffUser,
    keys: Keys,
    now: datetime,
    *,
    programme_id: int | None,
    partner_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Enrolment], int]:
    """Enrolments collecting at libraries in my scope (of a programme, of a partner), newest first. Children's
    records: the read is logged with the children shown."""
    require_role(staff, StaffRole.LIBRARIAN)
    found = _staff_sees(staff)
    if programme_id is not None:
        found = found.filter(programme_id=programme_id)
    if partner_id is not None:
        found = found.filter(partner_id=partner_id)
    page, total = await paging.page(found.order_by("-enrolled_at", "-id"), limit, offset)
    await _log(staff, keys, now, f"enrolments:{programme_id}:{partner_id}:{offset}", page)
    return page, total


async def staff_enrolment(staff: StaffUser, keys: Keys, now: datetime, enrolment_id: int) -> Enrolment:
    """One enrolment collecting at a library in my scope, logged as a read of the child's record."""
    require_role(staff, StaffRole.LIBRARIAN)
    enrolment = await _staff_sees(staff).get_or_none(id=enrolment_id)
    if enrolment is None:
        raise EnrolmentNotFound()
    await _log(staff, keys, now, f"enrolment:{enrolment_id}", [enrolment])
    return enrolment


def _staff_sees(staff: StaffUser) -> QuerySet[Enrolment]:
    return Enrolment.filter(library__path__startswith=authority_scope(staff)).select_related(*_RELATED)


async def partner_enrolments(
    enroller: StaffUser, keys: Keys, now: datetime, *, limit: int, offset: int
) -> tuple[list[Enrolment], int]:
    """The enrolments my partner brought, newest first, with what an enroller needs to see a family was enrolled
    (the schema shows no more); logged."""
    partner = await partners.enrollers_partner(enroller)
    found = Enrolment.filter(partner=partner).select_related("child", "ward").order_by("-enrolled_at", "-id")
    page, total = await paging.page(found, limit, offset)
    await _log(enroller, keys, now, f"partner-enrolments:{partner.id}:{offset}", page)
    return page, total


async def _log(staff: StaffUser, keys: Keys, now: datetime, query: str, shown: list[Enrolment]) -> None:
    """A staff read of children's programme records, in the log of staff look-ups of readers (PIPL art. 31)."""
    await ReaderLookup.create(
        staff=staff,
        library_id=staff.library.id,
        action=LookupAction.NEWBORN,
        looked_up_by=LookupBy.ENROLMENT,
        query_digest=keys.blind_index(query),
        reader_ids=[enrolment.child_id for enrolment in shown],
        children_shown=bool(shown),
        outside_scope=False,
        at=now,
    )
