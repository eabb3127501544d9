"""The newborn programme as families, staff and partners' enrollers see it, and what they send."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from backend.newborn.models import (
    Consent,
    ConsentEnd,
    ConsentText,
    Enrolment,
    EnrolmentChannel,
    PackType,
    Partner,
    PartnerKind,
    Stage,
    Ward,
)
from backend.newborn.partners import EnrollerDraft, PartnerDraft
from backend.newborn.programmes import (
    MAX_AGE_MONTHS,
    MAX_STAGES,
    ConsentDraft,
    PackTypeDraft,
    ProgrammeDraft,
    ProgrammeView,
    StageDraft,
)
from miniprogram_api.accounts.schemas import Name
from miniprogram_api.booklists.schemas import LibraryRefOut
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import Day, Page, RowId, named, text
from miniprogram_api.staff.schemas import Password, Username

AgeMonths = Annotated[int, msgspec.Meta(ge=0, le=MAX_AGE_MONTHS)]
ScannedCode = Annotated[str, text(64, min_length=1)]


class PackTypeIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(64, min_length=1)]
    description: Annotated[str, text(500, multi_line=True)] = ""
    contents: Annotated[list[Annotated[str, text(40, min_length=1)]], msgspec.Meta(max_length=20)] = []
    """What is in the pack, as families are told (a cloth book, two picture books, the reading record...)."""

    def draft(self) -> PackTypeDraft:
        return PackTypeDraft(self.name, self.description, list(self.contents))


class PackTypeUpdate(PackTypeIn, forbid_unknown_fields=True):
    active: bool = True
    """False: retired, given to no new stage."""


class PackTypeOut(msgspec.Struct):
    id: int
    name: str
    description: str
    contents: list[str]
    active: bool

    @classmethod
    def of(cls, pack_type: PackType) -> PackTypeOut:
        return cls(pack_type.id, pack_type.name, pack_type.description, pack_type.contents, pack_type.active)


PackTypePage = Annotated[Page[PackTypeOut], named("PackTypePage")]


class StageIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(20, min_length=1)]
    min_age_months: AgeMonths
    """From this age in whole months (inclusive)..."""
    max_age_months: AgeMonths
    """...to under this one."""
    pack_type_id: RowId
    booklist_id: RowId | None = None
    """The reading list staff curate for the stage (a reading list of the booklists area), if any."""
    id: RowId | None = None
    """An existing stage of the programme, to change it; left out: a new stage."""

    def draft(self) -> StageDraft:
        return StageDraft(
            self.name, self.min_age_months, self.max_age_months, self.pack_type_id, self.booklist_id, self.id
        )


Stages = Annotated[list[StageIn], msgspec.Meta(min_length=1, max_length=MAX_STAGES)]


class ProgrammeIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(40, min_length=1)]
    description: Annotated[str, text(1000, multi_line=True)] = ""
    reservation_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 60
    """How long a reserved pack waits to be collected before it goes back to stock."""
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 365
    """How long after the child's last stage ends the programme record is kept."""

    def draft(self) -> ProgrammeDraft:
        return ProgrammeDraft(self.name, self.description, self.reservation_days, self.retention_days)


class NewProgrammeIn(ProgrammeIn, forbid_unknown_fields=True):
    library_code: Code | None = None
    """The library that runs it, in my scope (families collect at it and the libraries below it); empty: mine."""
    stages: Stages | None = None
    """Its stages; left out: 0-6, 6-18 and 18-36 months, each with a new pack type."""


class ProgrammeUpdate(ProgrammeIn, forbid_unknown_fields=True):
    active: bool = True
    """False: closed to new enrolments; enrolled families keep being served."""


class StagesIn(msgspec.Struct, forbid_unknown_fields=True):
    stages: Stages
    """The whole set: stages left out are removed."""


class ConsentTextIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, text(10_000, min_length=1, multi_line=True)]
    """The consent as guardians read it: what of the child's data is processed, by whom, how to withdraw."""
    purpose: Annotated[str, text(500, min_length=1, multi_line=True)]
    retention: Annotated[str, text(200, min_length=1)]
    """How long the data is kept, as guardians are told."""
    person_responsible: Annotated[str, text(100, min_length=1)]
    """The person or office responsible for the children's data, and how to reach them (PIPL art. 52)."""

    def draft(self) -> ConsentDraft:
        return ConsentDraft(self.text, self.purpose, self.retention, self.person_responsible)


class StageOut(msgspec.Struct):
    id: int
    name: str
    min_age_months: int
    max_age_months: int
    pack_type: PackTypeOut
    booklist_id: int | None
    """The stage's reading list (`GET /booklists/{id}`), if it has one."""

    @classmethod
    def of(cls, stage: Stage) -> StageOut:
        return cls(
            stage.id,
            stage.name,
            stage.min_age_months,
            stage.max_age_months,
            PackTypeOut.of(stage.pack_type),
            stage.booklist_id,
        )


class ConsentTextOut(msgspec.Struct):
    id: int
    version: int
    text: str
    purpose: str
    retention: str
    person_responsible: str
    published_at: datetime

    @classmethod
    def of(cls, consent: ConsentText) -> ConsentTextOut:
        return cls(
            consent.id,
            consent.version,
            consent.text,
            consent.purpose,
            consent.retention,
            consent.person_responsible,
            consent.published_at,
        )


ConsentTextPage = Annotated[Page[ConsentTextOut], named("ConsentTextPage")]


class ProgrammeOut(msgspec.Struct):
    id: int
    name: str
    description: str
    library: LibraryRefOut
    active: bool
    reservation_days: int
    retention_days: int
    stages: list[StageOut]
    """Youngest first."""
    consent: ConsentTextOut | None
    """The consent text an enrolment now agrees to (its `version` is sent with the enrolment); null: none
    published yet, and nobody can enrol."""

    @classmethod
    def of(cls, view: ProgrammeView) -> ProgrammeOut:
        p = view.programme
        return cls(
            id=p.id,
            name=p.name,
            description=p.description,
            library=LibraryRefOut(p.library.code, p.library.name),
            active=p.active,
            reservation_days=p.reservation_days,
            retention_days=p.retention_days,
            stages=[StageOut.of(stage) for stage in view.stages],
            consent=ConsentTextOut.of(view.consent) if view.consent else None,
        )


ProgrammePage = Annotated[Page[ProgrammeOut], named("ProgrammePage")]


class PartnerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(100, min_length=1)]
    kind: PartnerKind
    address: Annotated[str, text(200)] = ""

    def draft(self) -> PartnerDraft:
        return PartnerDraft(self.name, self.kind, self.address)


class NewPartnerIn(PartnerIn, forbid_unknown_fields=True, kw_only=True):
    programme_id: RowId
    library_code: Code
    """Its library, in my scope and the programme's: where its families collect packs unless they choose another,
    and where its enrollers' accounts sit."""


class PartnerUpdate(PartnerIn, forbid_unknown_fields=True):
    active: bool = True
    """False: the partnership ended; its codes enrol nobody and its enrollers can no longer act."""


class PartnerOut(msgspec.Struct):
    id: int
    programme_id: int
    name: str
    kind: PartnerKind
    library: LibraryRefOut
    address: str
    active: bool

    @classmethod
    def of(cls, partner: Partner) -> PartnerOut:
        library = LibraryRefOut(partner.library.code, partner.library.name)
        return cls(
            partner.id, partner.programme_id, partner.name, partner.kind, library, partner.address, partner.active
        )


PartnerPage = Annotated[Page[PartnerOut], named("PartnerPage")]


class WardIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(40, min_length=1)]


class WardUpdate(WardIn, forbid_unknown_fields=True):
    active: bool = True
    """False: its printed code enrols nobody (a code taken down or copied)."""


class WardOut(msgspec.Struct):
    id: int
    name: str
    active: bool

    @classmethod
    def of(cls, ward: Ward) -> WardOut:
        return cls(ward.id, ward.name, ward.active)


WardPage = Annotated[Page[WardOut], named("WardPage")]


class EnrollerIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    display_name: Annotated[str, text(50)] = ""

    def draft(self) -> EnrollerDraft:
        return EnrollerDraft(self.username, self.password, self.display_name)


class PartnerRefOut(msgspec.Struct):
    name: str
    kind: PartnerKind
    address: str


class WardCodeOut(msgspec.Struct):
    """What a scanned ward code enrols in, shown before the guardian consents."""

    partner: PartnerRefOut
    ward: str
    library: LibraryRefOut
    """Where packs are collected unless the guardian chooses another library of the programme."""
    programme: ProgrammeOut

    @classmethod
    def of(cls, ward: Ward, view: ProgrammeView) -> WardCodeOut:
        partner = ward.partner
        return cls(
            PartnerRefOut(partner.name, partner.kind, partner.address),
            ward.name,
            LibraryRefOut(partner.library.code, partner.library.name),
            ProgrammeOut.of(view),
        )


class EnrolmentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """At a hospital: `code`. In the app: `programme_id` and `library_code`. The child: `child_id` of a card I hold,
    or `child_name` (the card I hold for that name and date of birth is used, else a new one is opened)."""

    code: ScannedCode | None = None
    """The scene of the ward's enrolment code the guardian scanned."""
    programme_id: RowId | None = None
    library_code: Code | None = None
    """Where packs are collected: required in the app; with a code, instead of the partner's library."""
    child_id: RowId | None = None
    child_name: Name | None = None
    date_of_birth: Day
    consent_version: Annotated[int, msgspec.Meta(ge=1, le=32_767)]
    """The version of the consent text shown to the guardian (`consent.version` of the programme)."""
    consent: bool
    """The guardian's separate consent to processing the child's personal data for the programme (PIPL art. 28, 29,
    31), given to that version."""


class ProgrammeRefOut(msgspec.Struct):
    id: int
    name: str


class ChildRefOut(msgspec.Struct):
    id: int
    card_number: str
    name: str
    date_of_birth: date | None


class StageRefOut(msgspec.Struct):
    id: int
    name: str
    min_age_months: int
    max_age_months: int
    booklist_id: int | None

    @classmethod
    def of(cls, stage: Stage | None) -> StageRefOut | None:
        if stage is None:
            return None
        return cls(stage.id, stage.name, stage.min_age_months, stage.max_age_months, stage.booklist_id)


class ConsentGivenOut(msgspec.Struct):
    version: int
    purpose: str
    given_at: datetime


class StaffEnrolmentOut(msgspec.Struct):
    id: int
    programme: ProgrammeRefOut
    child: ChildRefOut
    stage: StageRefOut | None
    """The stage the child is in; null before the first or after the last."""
    library: LibraryRefOut
    """Where the family collects its packs."""
    channel: EnrolmentChannel
    partner: str | None
    ward: str | None
    enrolled_at: datetime

    @classmethod
    def of(cls, enrolment: Enrolment) -> StaffEnrolmentOut:
        child = enrolment.child
        return cls(
            id=enrolment.id,
            programme=ProgrammeRefOut(enrolment.programme.id, enrolment.programme.name),
            child=ChildRefOut(child.id, child.card_number, child.name, child.date_of_birth),
            stage=StageRefOut.of(enrolment.stage),
            library=LibraryRefOut(enrolment.library.code, enrolment.library.name),
            channel=enrolment.channel,
            partner=enrolment.partner.name if enrolment.partner else None,
            ward=enrolment.ward.name if enrolment.ward else None,
            enrolled_at=enrolment.enrolled_at,
        )


class EnrolmentOut(StaffEnrolmentOut):
    """An enrolment as its guardian sees it: what staff see, and the consent given."""

    consent: ConsentGivenOut

    @classmethod
    def of(cls, enrolment: Enrolment) -> EnrolmentOut:
        text_given = enrolment.consent.text
        consent = ConsentGivenOut(text_given.version, text_given.purpose, enrolment.consent.given_at)
        return cls(**msgspec.structs.asdict(StaffEnrolmentOut.of(enrolment)), consent=consent)


EnrolmentPage = Annotated[Page[EnrolmentOut], named("EnrolmentPage")]


class ConsentOut(msgspec.Struct):
    id: int
    programme: ProgrammeRefOut
    version: int
    purpose: str
    given_at: datetime
    ended_at: datetime | None
    ended_by: ConsentEnd | None
    """Why it ended: withdrawn by me, the retention period over, the child's card closed."""

    @classmethod
    def of(cls, consent: Consent) -> ConsentOut:
        text_given = consent.text
        return cls(
            consent.id,
            ProgrammeRefOut(text_given.programme.id, text_given.programme.name),
            text_given.version,
            text_given.purpose,
            consent.given_at,
            consent.ended_at,
            consent.ended_by,
        )


ConsentPage = Annotated[Page[ConsentOut], named("NewbornConsentPage")]


StaffEnrolmentPage = Annotated[Page[StaffEnrolmentOut], named("StaffEnrolmentPage")]


class PartnerEnrolmentOut(msgspec.Struct):
    """What an enroller sees of an enrolment their partner brought: that it happened, where and when; of the child
    only the first character of the name, to tell families apart at the ward."""

    id: int
    ward: str | None
    child: str
    enrolled_at: datetime

    @classmethod
    def of(cls, enrolment: Enrolment) -> PartnerEnrolmentOut:
        name = enrolment.child.name
        ward = enrolment.ward.name if enrolment.ward else None
        return cls(enrolment.id, ward, name[:1] + "*" * (len(name) - 1), enrolment.enrolled_at)


PartnerEnrolmentPage = Annotated[Page[PartnerEnrolmentOut], named("PartnerEnrolmentPage")]
