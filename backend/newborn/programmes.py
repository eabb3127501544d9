"""Programmes of the newborn programme and their settings: the stages by age with their pack types and reading lists,
the pack types, and the versioned consent text guardians agree to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import authority_scope, require_role
from backend.booklists.errors import BooklistNotFound
from backend.booklists.models import Booklist, BooklistStatus
from backend.network.errors import OutsideScope
from backend.network.services import in_scope, library_in_scope
from backend.newborn.errors import (
    PackTypeNameTaken,
    PackTypeNotFound,
    ProgrammeNameTaken,
    ProgrammeNotFound,
    StageInUse,
    StagesInvalid,
)
from backend.newborn.models import ConsentText, PackType, Programme, Stage

MAX_STAGES = 12
# A programme is for children: its stages end by 14 years (PIPL's age for a child's sensitive data).
MAX_AGE_MONTHS = 168
# Bookstart's and Taipei's stages; a programme staff make without stages gets these, each with the pack type named.
DEFAULT_STAGES = (("0-6个月", 0, 6), ("6-18个月", 6, 18), ("18-36个月", 18, 36))


@dataclass(frozen=True, slots=True)
class PackTypeDraft:
    name: str
    description: str
    contents: list[str]


@dataclass(frozen=True, slots=True)
class ProgrammeDraft:
    name: str
    description: str
    reservation_days: int
    retention_days: int


@dataclass(frozen=True, slots=True)
class StageDraft:
    name: str
    min_age_months: int
    max_age_months: int
    pack_type_id: int
    booklist_id: int | None
    id: int | None = None
    """An existing stage of the programme to change; None: a new one."""


@dataclass(frozen=True, slots=True)
class ConsentDraft:
    text: str
    purpose: str
    retention: str
    person_responsible: str


@dataclass(frozen=True, slots=True)
class ProgrammeView:
    programme: Programme  # with its library
    stages: list[Stage]  # youngest first, each with its pack type
    consent: ConsentText | None
    """The current version of the consent text; None until one is published (nobody can enrol)."""


# Pack types: network-wide, so the network's administrators keep them.


async def create_pack_type(staff: StaffUser, draft: PackTypeDraft, now: datetime) -> PackType:
    """A new kind of gift pack (network administrators)."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    try:
        return await PackType.create(
            name=draft.name, description=draft.description, contents=draft.contents, created_at=now
        )
    except IntegrityError as exc:
        raise PackTypeNameTaken(name=draft.name) from exc


async def update_pack_type(staff: StaffUser, pack_type_id: int, draft: PackTypeDraft, active: bool) -> PackType:
    """Rename, describe, or retire a pack type (network administrators); a retired one is given to no new stage."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    pack_type = await _pack_type(pack_type_id)
    pack_type.name, pack_type.description, pack_type.contents = draft.name, draft.description, draft.contents
    pack_type.active = active
    try:
        await pack_type.save(update_fields=["name", "description", "contents", "active"])
    except IntegrityError as exc:
        raise PackTypeNameTaken(name=draft.name) from exc
    return pack_type


async def list_pack_types(
    staff: StaffUser, active: bool | None, *, limit: int, offset: int
) -> tuple[list[PackType], int]:
    """The network's pack types, in the order they were made."""
    require_role(staff, StaffRole.LIBRARIAN)
    found = PackType.all() if active is None else PackType.filter(active=active)
    return await paging.page(found.order_by("id"), limit, offset)


async def _pack_type(pack_type_id: int) -> PackType:
    pack_type = await PackType.get_or_none(id=pack_type_id)
    if pack_type is None:
        raise PackTypeNotFound()
    return pack_type


# Programmes: a library's administrators (and those above) run the programmes of their libraries.


async def create_programme(
    staff: StaffUser,
    library_code: str | None,
    draft: ProgrammeDraft,
    stages: list[StageDraft] | None,
    now: datetime,
) -> ProgrammeView:
    """A programme of a library in my scope (none given: mine), with its stages; without stages, the defaults
    (0-6, 6-18 and 18-36 months), each handing out a new pack type named after the programme and the stage."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    library = await library_in_scope(library_code, authority_scope(staff)) if library_code else staff.library
    async with in_transaction():
        try:
            programme = await Programme.create(
                name=draft.name,
                description=draft.description,
                library=library,
                reservation_days=draft.reservation_days,
                retention_days=draft.retention_days,
                created_at=now,
                updated_at=now,
            )
        except IntegrityError as exc:
            raise ProgrammeNameTaken(name=draft.name) from exc
        await _write_stages(programme, stages if stages is not None else await _default_stages(programme, now))
    return await programme_view(programme.id)


async def _default_stages(programme: Programme, now: datetime) -> list[StageDraft]:
    made = []
    for name, low, high in DEFAULT_STAGES:
        pack_name = f"{programme.name} {name}"
        try:
            async with in_transaction():  # a savepoint: the name taken leaves the programme's transaction usable
                pack_type = await PackType.create(name=pack_name, description="", contents=[], created_at=now)
        except IntegrityError as exc:
            raise PackTypeNameTaken(name=pack_name) from exc
        made.append(StageDraft(name, low, high, pack_type.id, None))
    return made


async def update_programme(
    staff: StaffUser, programme_id: int, draft: ProgrammeDraft, active: bool, now: datetime
) -> ProgrammeView:
    """Rename or describe a programme, change how long packs wait and records are kept, or close it to new
    enrolments (enrolled families keep being served)."""
    programme = await _managed(staff, programme_id)
    programme.name, programme.description = draft.name, draft.description
    programme.reservation_days, programme.retention_days = draft.reservation_days, draft.retention_days
    programme.active, programme.updated_at = active, now
    try:
        await programme.save(
            update_fields=["name", "description", "reservation_days", "retention_days", "active", "updated_at"]
        )
    except IntegrityError as exc:
        raise ProgrammeNameTaken(name=draft.name) from exc
    return await programme_view(programme.id)


async def set_stages(staff: StaffUser, programme_id: int, stages: list[StageDraft], now: datetime) -> ProgrammeView:
    """Set a programme's stages as a whole: those given with an id are changed, the others added, and stages left out
    removed, which a stage that children are in or packs were reserved for cannot be."""
    programme = await _managed(staff, programme_id)
    async with in_transaction():
        # Serialises changes of one programme's stages, so no two changes leave them overlapping.
        await Programme.select_for_update().get(id=programme.id)
        await _write_stages(programme, stages)
        programme.updated_at = now
        await programme.save(update_fields=["updated_at"])
    return await programme_view(programme.id)


async def _write_stages(programme: Programme, stages: list[StageDraft]) -> None:
    await _check_stages(stages)
    existing = {stage.id: stage for stage in await Stage.filter(programme=programme)}
    unknown = {draft.id for draft in stages if draft.id is not None} - existing.keys()
    if unknown:
        raise StagesInvalid(problem=f"stage {min(unknown)} is not one of this programme's")
    kept = {draft.id for draft in stages}
    for stage in existing.values():
        if stage.id in kept:
            continue
        try:
            # The enrolments' and reservations' RESTRICT keys decide, so a child enrolled meanwhile still counts.
            await stage.delete()
        except IntegrityError as exc:
            raise StageInUse(name=stage.name) from exc
    for draft in stages:
        values: dict[str, Any] = {
            "name": draft.name,
            "min_age_months": draft.min_age_months,
            "max_age_months": draft.max_age_months,
            "pack_type_id": draft.pack_type_id,
            "booklist_id": draft.booklist_id,
        }
        if draft.id is None:
            await Stage.create(programme=programme, **values)
        else:
            await Stage.filter(id=draft.id).update(**values)


async def _check_stages(stages: list[StageDraft]) -> None:
    if not 1 <= len(stages) <= MAX_STAGES:
        raise StagesInvalid(problem=f"a programme has 1 to {MAX_STAGES} stages")
    ordered = sorted(stages, key=lambda s: s.min_age_months)
    for stage in ordered:
        if not 0 <= stage.min_age_months < stage.max_age_months <= MAX_AGE_MONTHS:
            raise StagesInvalid(problem=f"{stage.name}: from an age under its end, up to {MAX_AGE_MONTHS} months")
    for earlier, later in pairwise(ordered):
        if later.min_age_months < earlier.max_age_months:
            raise StagesInvalid(problem=f"{earlier.name} and {later.name} overlap")
    pack_types = {draft.pack_type_id for draft in stages}
    if await PackType.filter(id__in=pack_types, active=True).count() != len(pack_types):
        raise PackTypeNotFound()
    booklists = {draft.booklist_id for draft in stages if draft.booklist_id is not None}
    if await Booklist.filter(id__in=booklists).exclude(status=BooklistStatus.RETIRED).count() != len(booklists):
        raise BooklistNotFound()


async def publish_consent_text(staff: StaffUser, programme_id: int, draft: ConsentDraft, now: datetime) -> ConsentText:
    """Publish the next version of the consent text: enrolments from now on are given to it, and a guardian who read
    an earlier one is asked to read this one. A published version never changes."""
    programme = await _managed(staff, programme_id)
    async with in_transaction():
        await Programme.select_for_update().get(id=programme.id)  # one new version at a time
        latest = await ConsentText.filter(programme=programme).order_by("-version").first()
        return await ConsentText.create(
            programme=programme,
            version=latest.version + 1 if latest else 1,
            text=draft.text,
            purpose=draft.purpose,
            retention=draft.retention,
            person_responsible=draft.person_responsible,
            published_at=now,
        )


async def consent_texts(
    staff: StaffUser, programme_id: int, *, limit: int, offset: int
) -> tuple[list[ConsentText], int]:
    """Every version of a programme's consent text, newest first."""
    programme = await _visible(staff, programme_id)
    return await paging.page(ConsentText.filter(programme=programme).order_by("-version", "-id"), limit, offset)


async def staff_programmes(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[ProgrammeView], int]:
    """The programmes my libraries take part in: run by a library in my scope, or by one above mine."""
    require_role(staff, StaffRole.LIBRARIAN)
    found, total = await paging.page(_seen_by(staff).order_by("id"), limit, offset)
    return [await programme_view(programme.id) for programme in found], total


async def staff_programme(staff: StaffUser, programme_id: int) -> ProgrammeView:
    return await programme_view((await _visible(staff, programme_id)).id)


async def open_programmes(*, limit: int, offset: int) -> tuple[list[ProgrammeView], int]:
    """The programmes a family can enrol in: open, with a consent text published, in the order they were made."""
    found = Programme.filter(active=True, consent_texts__id__isnull=False).distinct().order_by("id")
    page, total = await paging.page(found, limit, offset)
    return [await programme_view(programme.id) for programme in page], total


async def open_programme(programme_id: int) -> ProgrammeView:
    """A programme as a family reads it before enrolling: its stages and the consent text it asks for."""
    view = await programme_view(programme_id)
    if not view.programme.active or view.consent is None:
        raise ProgrammeNotFound()
    return view


def _seen_by(staff: StaffUser) -> QuerySet[Programme]:
    above = [int(part) for part in staff.library.path.strip("/").split("/") if part]
    return Programme.filter(Q(library__path__startswith=authority_scope(staff)) | Q(library_id__in=above))


async def _visible(staff: StaffUser, programme_id: int) -> Programme:
    require_role(staff, StaffRole.LIBRARIAN)
    programme = await _seen_by(staff).get_or_none(id=programme_id)
    if programme is None:
        raise ProgrammeNotFound()
    return programme


async def _managed(staff: StaffUser, programme_id: int) -> Programme:
    """A programme I may change: run by a library in my scope (its administrators and those above)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    programme = await _visible(staff, programme_id)
    await programme.fetch_related("library")
    if not in_scope(programme.library, authority_scope(staff)):
        raise OutsideScope()
    return programme


async def programme_view(programme_id: int) -> ProgrammeView:
    programme = await Programme.get_or_none(id=programme_id).select_related("library")
    if programme is None:
        raise ProgrammeNotFound()
    stages = await Stage.filter(programme=programme).select_related("pack_type").order_by("min_age_months", "id")
    return ProgrammeView(programme, stages, await current_consent(programme))


async def current_consent(programme: Programme) -> ConsentText | None:
    """The version of the consent text a guardian enrolling now agrees to."""
    return await ConsentText.filter(programme=programme).order_by("-version").first()


def stage_at(stages: list[Stage], age_months: int) -> Stage | None:
    """The stage a child of this age is in, of a programme's stages; None before the first, between two, after the
    last."""
    return next((s for s in stages if s.min_age_months <= age_months < s.max_age_months), None)
