"""The newborn programme (阅享宝贝): families read the programmes and enrol their children (by a hospital ward's code or
in the app) and withdraw consent; staff set programmes, pack types and partners up; partners' enrollers print their
wards' codes and see the enrolments they brought."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from backend.accounts.errors import (
    ChildCardExists,
    ChildNotFound,
    ChildrenLimitReached,
    InvalidDateOfBirth,
    InvalidName,
    RoleTooLow,
    UsernameTaken,
    WeakPassword,
)
from backend.accounts.models import Reader, StaffUser
from backend.booklists.errors import BooklistNotFound
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.newborn import enrolment, partners, programmes
from backend.newborn.enrolment import EnrolmentRequest
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
    PackTypeNameTaken,
    PackTypeNotFound,
    PartnerNameTaken,
    PartnerNotFound,
    PartnerOutsideProgramme,
    PhoneRequired,
    ProgrammeClosed,
    ProgrammeNameTaken,
    ProgrammeNotFound,
    StageInUse,
    StagesInvalid,
    WardCodeInvalid,
    WardNameTaken,
    WardNotFound,
)
from backend.newborn.models import Partner
from backend.wechat.errors import WeChatRateLimited, WeChatUnavailable
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, ENROLLER_PROBLEMS, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.newborn.schemas import (
    ConsentOut,
    ConsentPage,
    ConsentTextIn,
    ConsentTextOut,
    ConsentTextPage,
    EnrollerIn,
    EnrolmentIn,
    EnrolmentOut,
    EnrolmentPage,
    NewPartnerIn,
    NewProgrammeIn,
    PackTypeIn,
    PackTypeOut,
    PackTypePage,
    PackTypeUpdate,
    PartnerEnrolmentOut,
    PartnerEnrolmentPage,
    PartnerOut,
    PartnerPage,
    PartnerUpdate,
    ProgrammeOut,
    ProgrammePage,
    ProgrammeUpdate,
    StaffEnrolmentOut,
    StaffEnrolmentPage,
    StagesIn,
    WardCodeOut,
    WardIn,
    WardOut,
    WardPage,
    WardUpdate,
)
from miniprogram_api.schemas import INT32_MAX, Offset, Page, ReaderLimit, RowId, StaffLimit, text_param
from miniprogram_api.staff.schemas import StaffOut

# An id in a query that may be left out: the bounds go on the optional type (Litestar drops them from a union).
OptionalRowId = Annotated[int | None, Parameter(ge=1, le=INT32_MAX)]
_PNG = {200: ResponseSpec(data_container=bytes, media_type="image/png", description="The ward's enrolment code")}
_CODE_PROBLEMS = (WardNotFound, WeChatRateLimited, WeChatUnavailable)
_ADMIN = (*STAFF_PROBLEMS, RoleTooLow)
_PROGRAMME = (*_ADMIN, ProgrammeNotFound, OutsideScope)
_PARTNER = (*_ADMIN, PartnerNotFound)
# An enroller's operations also answer `newborn_partner_not_found` once the partnership has ended.
_ENROLLER = (*ENROLLER_PROBLEMS, PartnerNotFound)


async def _ward_code_png(deps: Dependencies, partner: Partner, ward_id: int) -> Response[bytes]:
    """The PNG of one of `partner`'s wards' enrolment codes, for whoever may print it."""
    png = await partners.ward_code(deps.wechat, deps.keys, partner, ward_id, deps.settings.wechat.enrol_page)
    return Response(png, media_type="image/png")


class NewbornController(Controller):
    path = "/newborn"
    tags = ["Newborn programme"]

    @get("/programmes", responses=problems())
    async def programmes(self, limit: ReaderLimit = 20, offset: Offset = 0) -> ProgrammePage:
        """Programmes a family can enrol in: their stages by age, each stage's pack and reading list, and the consent
        text an enrolment agrees to. No login needed."""
        found, total = await programmes.open_programmes(limit=limit, offset=offset)
        return Page.of([ProgrammeOut.of(view) for view in found], total, limit, offset)

    @get("/programmes/{programme_id:int}", responses=problems(ProgrammeNotFound))
    async def programme(self, programme_id: RowId) -> ProgrammeOut:
        """A programme a family can enrol in, with its stages and current consent text."""
        return ProgrammeOut.of(await programmes.open_programme(programme_id))

    @get("/codes/{scene:str}", responses=problems(WardCodeInvalid, ConsentTextMissing))
    async def code(self, deps: Dependencies, scene: Annotated[str, text_param(64)]) -> WardCodeOut:
        """Read a hospital ward's enrolment code: the partner and ward, the library packs are collected at, and the
        programme with the consent text to show the guardian before they enrol."""
        ward, view = await enrolment.read_code(deps.keys, scene)
        return WardCodeOut.of(ward, view)


class GuardianNewbornController(Controller):
    path = "/readers/me/newborn"
    tags = ["Newborn programme"]
    security = BEARER

    @post(
        "/enrolments",
        responses=problems(
            *READER_PROBLEMS,
            ConsentRequired,
            PhoneRequired,
            ChildRequired,
            EnrolmentWayRequired,
            WardCodeInvalid,
            ProgrammeNotFound,
            ProgrammeClosed,
            CollectionLibraryInvalid,
            ConsentTextMissing,
            ConsentOutdated,
            ChildOutsideStages,
            ChildNotFound,
            InvalidName,
            InvalidDateOfBirth,
            ChildCardExists,
            ChildrenLimitReached,
            ChildAlreadyEnrolled,
        ),
    )
    async def enrol(self, deps: Dependencies, reader: Reader, data: EnrolmentIn) -> EnrolmentOut:
        """Enrol my child: by a hospital ward's code (the partner is recorded) or in the app choosing a programme and
        the library to collect packs at. Needs a bound phone, the child's name (or a child card I hold) and date of
        birth, and my separate consent to the programme's current consent text. The child's little reader card is the
        one I hold or a new one; a child is enrolled once."""
        request = EnrolmentRequest(
            code=data.code,
            programme_id=data.programme_id,
            library_code=data.library_code,
            child_id=data.child_id,
            child_name=data.child_name,
            born=data.date_of_birth,
            consent_version=data.consent_version,
            consent=data.consent,
        )
        made = await enrolment.enrol(
            reader,
            request,
            keys=deps.keys,
            card_prefix=deps.settings.network.card_prefix,
            now=deps.clock.now(),
            network_time=deps.network_time,
            bus=deps.bus,
        )
        return EnrolmentOut.of(made)

    @get("/enrolments", responses=problems(*READER_PROBLEMS))
    async def enrolments(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> EnrolmentPage:
        """My children's enrolments, newest first."""
        found, total = await enrolment.my_enrolments(reader, limit=limit, offset=offset)
        return Page.of([EnrolmentOut.of(e) for e in found], total, limit, offset)

    @get("/enrolments/{enrolment_id:int}", responses=problems(*READER_PROBLEMS, EnrolmentNotFound))
    async def enrolment(self, reader: Reader, enrolment_id: RowId) -> EnrolmentOut:
        """One of my children's enrolments."""
        return EnrolmentOut.of(await enrolment.my_enrolment(reader, enrolment_id))

    @delete("/enrolments/{enrolment_id:int}", status_code=204, responses=problems(*READER_PROBLEMS, EnrolmentNotFound))
    async def withdraw(self, deps: Dependencies, reader: Reader, enrolment_id: RowId) -> None:
        """Withdraw my consent: the programme stops processing the child's data and deletes the enrolment with its
        packs reserved and reading record (only anonymous counts stay). The child's card stays until I remove it."""
        await enrolment.withdraw_consent(reader, enrolment_id, deps.clock.now(), deps.network_time, deps.bus)

    @get("/consents", responses=problems(*READER_PROBLEMS))
    async def consents(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> ConsentPage:
        """My consents for my children's data: to which version of which text, when, and when each ended; newest
        first."""
        found, total = await enrolment.my_consents(reader, limit=limit, offset=offset)
        return Page.of([ConsentOut.of(c) for c in found], total, limit, offset)


class StaffNewbornController(Controller):
    path = "/staff/newborn"
    tags = ["Staff: newborn programme"]
    security = BEARER

    @post("/pack-types", responses=problems(*_ADMIN, PackTypeNameTaken))
    async def create_pack_type(self, deps: Dependencies, staff: StaffUser, data: PackTypeIn) -> PackTypeOut:
        """Add a kind of gift pack (network administrators): what it holds, as families are told."""
        return PackTypeOut.of(await programmes.create_pack_type(staff, data.draft(), deps.clock.now()))

    @get("/pack-types", responses=problems(*_ADMIN))
    async def pack_types(
        self, staff: StaffUser, active: bool | None = None, limit: StaffLimit = 50, offset: Offset = 0
    ) -> PackTypePage:
        """The network's pack types (active or retired ones only, or all), in the order they were added."""
        found, total = await programmes.list_pack_types(staff, active, limit=limit, offset=offset)
        return Page.of([PackTypeOut.of(p) for p in found], total, limit, offset)

    @put("/pack-types/{pack_type_id:int}", responses=problems(*_ADMIN, PackTypeNotFound, PackTypeNameTaken))
    async def update_pack_type(self, staff: StaffUser, pack_type_id: RowId, data: PackTypeUpdate) -> PackTypeOut:
        """Change a pack type's name, description and contents, or retire it (network administrators)."""
        return PackTypeOut.of(await programmes.update_pack_type(staff, pack_type_id, data.draft(), data.active))

    @post(
        "/programmes",
        responses=problems(
            *_ADMIN,
            LibraryNotFound,
            OutsideScope,
            ProgrammeNameTaken,
            StagesInvalid,
            PackTypeNotFound,
            PackTypeNameTaken,
            BooklistNotFound,
        ),
    )
    async def create_programme(self, deps: Dependencies, staff: StaffUser, data: NewProgrammeIn) -> ProgrammeOut:
        """Start a programme run by a library in my scope (administrators), with its stages by age: without stages,
        0-6, 6-18 and 18-36 months, each with a new pack type. Families enrol once a consent text is published."""
        stages = [stage.draft() for stage in data.stages] if data.stages is not None else None
        made = await programmes.create_programme(staff, data.library_code, data.draft(), stages, deps.clock.now())
        return ProgrammeOut.of(made)

    @get("/programmes", responses=problems(*_ADMIN))
    async def programmes(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> ProgrammePage:
        """The programmes my libraries take part in (run in my scope or above my library), open or closed."""
        found, total = await programmes.staff_programmes(staff, limit=limit, offset=offset)
        return Page.of([ProgrammeOut.of(view) for view in found], total, limit, offset)

    @get("/programmes/{programme_id:int}", responses=problems(*_ADMIN, ProgrammeNotFound))
    async def programme(self, staff: StaffUser, programme_id: RowId) -> ProgrammeOut:
        """One of the programmes my libraries take part in."""
        return ProgrammeOut.of(await programmes.staff_programme(staff, programme_id))

    @put("/programmes/{programme_id:int}", responses=problems(*_PROGRAMME, ProgrammeNameTaken))
    async def update_programme(
        self, deps: Dependencies, staff: StaffUser, programme_id: RowId, data: ProgrammeUpdate
    ) -> ProgrammeOut:
        """Change a programme: its name, how long packs wait and records are kept, or closing it to new enrolments."""
        changed = await programmes.update_programme(staff, programme_id, data.draft(), data.active, deps.clock.now())
        return ProgrammeOut.of(changed)

    @put(
        "/programmes/{programme_id:int}/stages",
        responses=problems(*_PROGRAMME, StagesInvalid, StageInUse, PackTypeNotFound, BooklistNotFound),
    )
    async def set_stages(
        self, deps: Dependencies, staff: StaffUser, programme_id: RowId, data: StagesIn
    ) -> ProgrammeOut:
        """Set a programme's stages as a whole (Taipei's 6-18 and 18-36 months, Flanders' 6 and 15): stages with an
        id are changed, new ones added, those left out removed unless children are in them or packs were reserved."""
        stages = [stage.draft() for stage in data.stages]
        return ProgrammeOut.of(await programmes.set_stages(staff, programme_id, stages, deps.clock.now()))

    @post("/programmes/{programme_id:int}/consent-texts", responses=problems(*_PROGRAMME))
    async def publish_consent_text(
        self, deps: Dependencies, staff: StaffUser, programme_id: RowId, data: ConsentTextIn
    ) -> ConsentTextOut:
        """Publish the next version of the consent text guardians agree to when they enrol (PIPL art. 28, 29, 31):
        the data processed, the purpose, the retention and the person responsible. Published versions never change."""
        made = await programmes.publish_consent_text(staff, programme_id, data.draft(), deps.clock.now())
        return ConsentTextOut.of(made)

    @get("/programmes/{programme_id:int}/consent-texts", responses=problems(*_ADMIN, ProgrammeNotFound))
    async def consent_texts(
        self, staff: StaffUser, programme_id: RowId, limit: StaffLimit = 50, offset: Offset = 0
    ) -> ConsentTextPage:
        """Every version of a programme's consent text, newest first."""
        found, total = await programmes.consent_texts(staff, programme_id, limit=limit, offset=offset)
        return Page.of([ConsentTextOut.of(c) for c in found], total, limit, offset)

    @post(
        "/partners",
        responses=problems(
            *_ADMIN, LibraryNotFound, OutsideScope, ProgrammeNotFound, PartnerOutsideProgramme, PartnerNameTaken
        ),
    )
    async def create_partner(self, deps: Dependencies, staff: StaffUser, data: NewPartnerIn) -> PartnerOut:
        """Add a partner hospital or health centre: it enrols families for a programme, at a library in my scope and
        the programme's (administrators)."""
        made = await partners.create_partner(
            staff, data.programme_id, data.library_code, data.draft(), deps.clock.now()
        )
        return PartnerOut.of(made)

    @get("/partners", responses=problems(*_ADMIN))
    async def partners(
        self,
        staff: StaffUser,
        programme_id: OptionalRowId = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> PartnerPage:
        """The partners of the libraries in my scope (of one programme, or all), in the order they were added."""
        found, total = await partners.staff_partners(staff, programme_id, limit=limit, offset=offset)
        return Page.of([PartnerOut.of(p) for p in found], total, limit, offset)

    @get("/partners/{partner_id:int}", responses=problems(*_PARTNER))
    async def partner(self, staff: StaffUser, partner_id: RowId) -> PartnerOut:
        """A partner of a library in my scope."""
        return PartnerOut.of(await partners.staff_partner(staff, partner_id))

    @put("/partners/{partner_id:int}", responses=problems(*_PARTNER, PartnerNameTaken))
    async def update_partner(self, staff: StaffUser, partner_id: RowId, data: PartnerUpdate) -> PartnerOut:
        """Change a partner's name, kind or address, or end the partnership (its codes stop enrolling and its
        enrollers stop acting)."""
        return PartnerOut.of(await partners.update_partner(staff, partner_id, data.draft(), data.active))

    @post("/partners/{partner_id:int}/wards", responses=problems(*_PARTNER, WardNameTaken))
    async def add_ward(self, deps: Dependencies, staff: StaffUser, partner_id: RowId, data: WardIn) -> WardOut:
        """Add a ward or clinic of a partner, with its own enrolment code to print."""
        return WardOut.of(await partners.add_ward(staff, partner_id, data.name, deps.clock.now()))

    @get("/partners/{partner_id:int}/wards", responses=problems(*_PARTNER))
    async def wards(self, staff: StaffUser, partner_id: RowId, limit: StaffLimit = 50, offset: Offset = 0) -> WardPage:
        """A partner's wards, in the order they were added."""
        partner = await partners.staff_partner(staff, partner_id)
        found, total = await partners.wards(partner, limit=limit, offset=offset)
        return Page.of([WardOut.of(w) for w in found], total, limit, offset)

    @put("/partners/{partner_id:int}/wards/{ward_id:int}", responses=problems(*_PARTNER, WardNotFound, WardNameTaken))
    async def update_ward(self, staff: StaffUser, partner_id: RowId, ward_id: RowId, data: WardUpdate) -> WardOut:
        """Rename a ward, or take its printed code out of use."""
        return WardOut.of(await partners.update_ward(staff, partner_id, ward_id, data.name, data.active))

    @get(
        "/partners/{partner_id:int}/wards/{ward_id:int}/code.png",
        media_type="image/png",
        responses={**problems(*_PARTNER, *_CODE_PROBLEMS), **_PNG},
    )
    async def ward_code(
        self, deps: Dependencies, staff: StaffUser, partner_id: RowId, ward_id: RowId
    ) -> Response[bytes]:
        """A ward's enrolment code to print (administrators of the partner's library, who add its wards): a parent who
        scans it enrols with the partner recorded."""
        return await _ward_code_png(deps, await partners.managed_partner(staff, partner_id), ward_id)

    @post(
        "/partners/{partner_id:int}/enrollers",
        responses=problems(*_PARTNER, UsernameTaken, WeakPassword),
    )
    async def create_enroller(self, staff: StaffUser, partner_id: RowId, data: EnrollerIn) -> StaffOut:
        """Add an enroller account for a partner (administrators of its library): it prints the partner's ward codes
        and sees the enrolments the partner brought, nothing else. Listed and deactivated with the library's staff."""
        return StaffOut.of(await partners.create_enroller(staff, partner_id, data.draft()))

    @get("/enrolments", responses=problems(*_ADMIN))
    async def enrolments(
        self,
        deps: Dependencies,
        staff: StaffUser,
        programme_id: OptionalRowId = None,
        partner_id: OptionalRowId = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> StaffEnrolmentPage:
        """Enrolments collecting packs at libraries in my scope (of a programme, of a partner), newest first. A read of
        children's records: logged with the children shown."""
        found, total = await enrolment.staff_enrolments(
            staff,
            deps.keys,
            deps.clock.now(),
            programme_id=programme_id,
            partner_id=partner_id,
            limit=limit,
            offset=offset,
        )
        return Page.of([StaffEnrolmentOut.of(e) for e in found], total, limit, offset)

    @get("/enrolments/{enrolment_id:int}", responses=problems(*_ADMIN, EnrolmentNotFound))
    async def enrolment(self, deps: Dependencies, staff: StaffUser, enrolment_id: RowId) -> StaffEnrolmentOut:
        """One enrolment collecting at a library in my scope; logged as a read of the child's record."""
        return StaffEnrolmentOut.of(await enrolment.staff_enrolment(staff, deps.keys, deps.clock.now(), enrolment_id))


class EnrollerController(Controller):
    path = "/staff/partner"
    tags = ["Partner enrollers"]
    security = BEARER

    @get("/", responses=problems(*_ENROLLER))
    async def partner(self, enroller: StaffUser) -> PartnerOut:
        """The partner organisation I enrol families for."""
        return PartnerOut.of(await partners.enrollers_partner(enroller))

    @get("/wards", responses=problems(*_ENROLLER))
    async def wards(self, enroller: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> WardPage:
        """My partner's wards, each with a code to print."""
        partner = await partners.enrollers_partner(enroller)
        found, total = await partners.wards(partner, limit=limit, offset=offset)
        return Page.of([WardOut.of(w) for w in found], total, limit, offset)

    @get(
        "/wards/{ward_id:int}/code.png",
        media_type="image/png",
        responses={**problems(*_ENROLLER, *_CODE_PROBLEMS), **_PNG},
    )
    async def ward_code(self, deps: Dependencies, enroller: StaffUser, ward_id: RowId) -> Response[bytes]:
        """A ward's enrolment code to print for parents to scan."""
        return await _ward_code_png(deps, await partners.enrollers_partner(enroller), ward_id)

    @get("/enrolments", responses=problems(*_ENROLLER))
    async def enrolments(
        self, deps: Dependencies, enroller: StaffUser, limit: StaffLimit = 50, offset: Offset = 0
    ) -> PartnerEnrolmentPage:
        """The enrolments my partner brought, newest first: when, at which ward, and the child's name masked. Logged
        as a read of children's records."""
        found, total = await enrolment.partner_enrolments(
            enroller, deps.keys, deps.clock.now(), limit=limit, offset=offset
        )
        return Page.of([PartnerEnrolmentOut.of(e) for e in found], total, limit, offset)
