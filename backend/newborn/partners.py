"""Partner hospitals and community health centres: their wards, each ward's printed enrolment code, and their
enrollers (staff accounts scoped to the partner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from backend import paging, passes
from backend.accounts import staff as accounts_staff
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import authority_scope, require_role
from backend.crypto import Keys
from backend.network.services import in_scope, library_in_scope
from backend.newborn.errors import (
    PartnerNameTaken,
    PartnerNotFound,
    PartnerOutsideProgramme,
    ProgrammeNotFound,
    WardCodeInvalid,
    WardNameTaken,
    WardNotFound,
)
from backend.newborn.models import Partner, PartnerKind, Programme, Ward
from backend.wechat.gateway import WeChatGateway

_WARD_CODE_PURPOSE = "newborn-ward"
_WARD_CODE_TAG = "n"
# `n` + a ward id of up to 10 digits + `.` + this: 28 characters, inside WeChat's 32 for a scene.
_WARD_CODE_SIGNATURE = 16


@dataclass(frozen=True, slots=True)
class PartnerDraft:
    name: str
    kind: PartnerKind
    address: str


@dataclass(frozen=True, slots=True)
class EnrollerDraft:
    username: str
    password: str
    display_name: str


async def create_partner(
    staff: StaffUser, programme_id: int, library_code: str, draft: PartnerDraft, now: datetime
) -> Partner:
    """A partner organisation enrolling for a programme, tied to a library in my scope and in the programme's (the
    default collection library of the families it enrols, and where its enrollers' accounts sit)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    library = await library_in_scope(library_code, authority_scope(staff))
    programme = await Programme.get_or_none(id=programme_id).select_related("library")
    if programme is None:
        raise ProgrammeNotFound()
    if not in_scope(library, programme.library.path):
        raise PartnerOutsideProgramme()
    try:
        partner = await Partner.create(
            programme=programme,
            name=draft.name,
            kind=draft.kind,
            library=library,
            address=draft.address,
            created_at=now,
        )
    except IntegrityError as exc:
        raise PartnerNameTaken(name=draft.name) from exc
    return partner


async def update_partner(staff: StaffUser, partner_id: int, draft: PartnerDraft, active: bool) -> Partner:
    """Rename a partner, change its address, or end the partnership (its codes then enrol nobody and its enrollers
    can no longer act: inactive, not deleted, so the enrolments it brought keep naming it)."""
    partner = await managed_partner(staff, partner_id)
    partner.name, partner.kind, partner.address, partner.active = draft.name, draft.kind, draft.address, active
    try:
        await partner.save(update_fields=["name", "kind", "address", "active"])
    except IntegrityError as exc:
        raise PartnerNameTaken(name=draft.name) from exc
    return partner


async def staff_partners(
    staff: StaffUser, programme_id: int | None, *, limit: int, offset: int
) -> tuple[list[Partner], int]:
    """The partners of the libraries in my scope (of one programme, or all), in the order they were added."""
    require_role(staff, StaffRole.LIBRARIAN)
    found = Partner.filter(library__path__startswith=authority_scope(staff))
    if programme_id is not None:
        found = found.filter(programme_id=programme_id)
    return await paging.page(found.select_related("library").order_by("id"), limit, offset)


async def staff_partner(staff: StaffUser, partner_id: int) -> Partner:
    """A partner of a library in my scope, with its library; anyone else's is not found."""
    require_role(staff, StaffRole.LIBRARIAN)
    partner = await Partner.get_or_none(id=partner_id).select_related("library")
    if partner is None or not in_scope(partner.library, authority_scope(staff)):
        raise PartnerNotFound()
    return partner


async def managed_partner(staff: StaffUser, partner_id: int) -> Partner:
    """A partner I may change: of a library in my scope, and I am an administrator."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    return await staff_partner(staff, partner_id)


async def add_ward(staff: StaffUser, partner_id: int, name: str, now: datetime) -> Ward:
    """A ward or clinic of a partner, which gets its own printed enrolment code."""
    partner = await managed_partner(staff, partner_id)
    try:
        return await Ward.create(partner=partner, name=name, created_at=now)
    except IntegrityError as exc:
        raise WardNameTaken(name=name) from exc


async def update_ward(staff: StaffUser, partner_id: int, ward_id: int, name: str, active: bool) -> Ward:
    """Rename a ward, or take its code out of use (a code taken down or copied: scanning it enrols nobody)."""
    partner = await managed_partner(staff, partner_id)
    ward = await _ward(partner, ward_id)
    ward.name, ward.active = name, active
    try:
        await ward.save(update_fields=["name", "active"])
    except IntegrityError as exc:
        raise WardNameTaken(name=name) from exc
    return ward


async def wards(partner: Partner, *, limit: int, offset: int) -> tuple[list[Ward], int]:
    return await paging.page(Ward.filter(partner=partner).order_by("id"), limit, offset)


async def _ward(partner: Partner, ward_id: int) -> Ward:
    ward = await Ward.get_or_none(id=ward_id, partner=partner)
    if ward is None:
        raise WardNotFound()
    return ward


def ward_scene(keys: Keys, ward_id: int) -> str:
    """What a ward's printed code carries: the ward and a signature, so only the library can print a code that
    enrols families for a partner."""
    return passes.printed_scene(keys, _WARD_CODE_PURPOSE, _WARD_CODE_TAG, ward_id, _WARD_CODE_SIGNATURE)


async def ward_code(wechat: WeChatGateway, keys: Keys, partner: Partner, ward_id: int, page: str) -> bytes:
    """The ward's mini-program code (PNG) to print: scanning it opens the enrolment in the app, with the partner
    recorded. It stays valid while the ward and its partner are in use."""
    ward = await _ward(partner, ward_id)
    return await wechat.mini_program_code(scene=ward_scene(keys, ward.id), page=page)


async def ward_for_scene(keys: Keys, scene: str) -> Ward:
    """The ward a scanned enrolment code names, with its partner and the partner's programme and library: only a code
    we signed, of a ward, partner and programme still in use."""
    ward_id = passes.printed_subject(keys, _WARD_CODE_PURPOSE, _WARD_CODE_TAG, scene.strip(), _WARD_CODE_SIGNATURE)
    if ward_id is None:
        raise WardCodeInvalid()
    ward = await Ward.get_or_none(
        id=ward_id, active=True, partner__active=True, partner__programme__active=True
    ).select_related("partner__programme__library", "partner__library")
    if ward is None:
        raise WardCodeInvalid()
    return ward


async def create_enroller(staff: StaffUser, partner_id: int, draft: EnrollerDraft) -> StaffUser:
    """An enroller account of a partner (administrators of the partner's library): it prints the partner's ward codes
    and sees the partner's enrolments, nothing else. Deactivated like any staff account."""
    partner = await managed_partner(staff, partner_id)
    return await accounts_staff.create_enroller(
        username=draft.username,
        password=draft.password,
        display_name=draft.display_name,
        library=partner.library,
        partner_id=partner.id,
    )


async def enrollers_partner(enroller: StaffUser) -> Partner:
    """The partner an enroller acts for, while the partnership lasts."""
    partner = await Partner.get_or_none(id=enroller.partner_id, active=True).select_related("library")
    if partner is None:
        raise PartnerNotFound()
    return partner
