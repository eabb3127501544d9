"""The newborn reading programme (阅享宝贝): programmes and their stages by age, gift-pack types, partner hospitals and
their wards, enrolments with the guardian's consent, pack stock with its ledger, pack reservations, the child's reading
record and milestones, and the anonymous counts that outlive a withdrawn enrolment."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.booklists.models import Booklist
from backend.catalog.models import Record
from backend.circulation.models import Loan
from backend.network.models import Library


class PackType(Model):
    """A kind of gift pack the network hands out (a newborn pack: cloth book, picture books, the reading record, a
    recommended list, the library's letter, the little reader card). Network-wide: stock is counted per library."""

    id = fields.IntField(primary_key=True)
    # Room for a programme's name and a stage's, which name the pack types a programme's default stages get.
    name = fields.CharField(max_length=64, unique=True)
    description = fields.CharField(max_length=500, default="")
    contents: list[str] = fields.JSONField(default=list)  # what is in the pack, as the family is told
    active = fields.BooleanField(default=True)  # retired pack types keep their stock and ledger
    created_at = fields.DatetimeField()

    class Meta:
        table = "pack_type"


class Programme(Model):
    """A reading programme for babies run by a library for its part of the network (the central library's is the
    city's): families collect packs at the libraries below it. Taipei's 6-18/18-36 months and Flanders' 6 and 15
    months are other stages of the same model."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40, unique=True)
    description = fields.CharField(max_length=1000, default="")
    # Its staff (and administrators above) manage it; its collection libraries are it and everything below it.
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="newborn_programmes", on_delete=fields.RESTRICT
    )
    library_id: int
    active = fields.BooleanField(default=True)  # closed to new enrolments; enrolled families keep being served
    # How long a reserved pack waits to be collected before it lapses and goes back to stock.
    reservation_days = fields.SmallIntField(default=60)
    # The programme record is deleted this many days after the child's last stage ends (PIPL art. 19, 47).
    retention_days = fields.SmallIntField(default=365)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    stages: fields.ReverseRelation[Stage]
    consent_texts: fields.ReverseRelation[ConsentText]

    class Meta:
        table = "newborn_programme"
        constraints = (
            CheckConstraint(
                check="reservation_days > 0 AND retention_days >= 0", name="newborn_programme_days_positive"
            ),
        )


class Stage(Model):
    """An age band of a programme, in whole months on the network's calendar (`ages.age_in_months`): from
    `min_age_months` (inclusive) to under `max_age_months`. Each stage hands out one pack of its type, and links to a
    reading list staff curate and to the events of its ages (those are found by their own age range, not stored)."""

    id = fields.IntField(primary_key=True)
    programme: fields.ForeignKeyRelation[Programme] = fields.ForeignKeyField(
        "models.Programme", related_name="stages", on_delete=fields.CASCADE
    )
    programme_id: int
    name = fields.CharField(max_length=20)
    min_age_months = fields.SmallIntField()
    max_age_months = fields.SmallIntField()
    pack_type: fields.ForeignKeyRelation[PackType] = fields.ForeignKeyField(
        "models.PackType", related_name="stages", on_delete=fields.RESTRICT
    )
    pack_type_id: int
    booklist: fields.ForeignKeyNullableRelation[Booklist] = fields.ForeignKeyField(
        "models.Booklist", related_name="newborn_stages", null=True, on_delete=fields.SET_NULL
    )
    booklist_id: int | None

    class Meta:
        table = "newborn_stage"
        # Stages of one programme do not overlap: the service sets them as a whole under the programme's row lock
        # (a unique start per programme would refuse two stages trading ages within one change).
        constraints = (
            CheckConstraint(
                check="min_age_months >= 0 AND max_age_months > min_age_months AND max_age_months <= 168",
                name="newborn_stage_ages",
            ),
        )


class ConsentText(Model):
    """A version of the consent a guardian gives for the child's data (PIPL art. 28, 29, 31): what is processed, for
    which purpose, for how long, and who is responsible. Published versions are never changed: a new text is a new
    version, and each consent names the version it was given to."""

    id = fields.IntField(primary_key=True)
    programme: fields.ForeignKeyRelation[Programme] = fields.ForeignKeyField(
        "models.Programme", related_name="consent_texts", on_delete=fields.RESTRICT
    )
    programme_id: int
    version = fields.SmallIntField()
    text = fields.TextField()
    purpose = fields.CharField(max_length=500)
    retention = fields.CharField(max_length=200)  # as the guardian is told it
    person_responsible = fields.CharField(max_length=100)  # the named person or office, and how to reach them
    published_at = fields.DatetimeField()

    class Meta:
        table = "newborn_consent_text"
        unique_together = (("programme", "version"),)
        constraints = (CheckConstraint(check="version >= 1", name="newborn_consent_text_version"),)


class PartnerKind(StrEnum):
    HOSPITAL = "hospital"
    HEALTH_CENTRE = "health_centre"  # 社区卫生服务中心


class Partner(Model):
    """A hospital or community health centre that enrols newborn families for a programme. Its enrollers are staff
    accounts of role `enroller` tied to it (`StaffUser.partner`); its library's administrators manage it."""

    id = fields.IntField(primary_key=True)
    programme: fields.ForeignKeyRelation[Programme] = fields.ForeignKeyField(
        "models.Programme", related_name="partners", on_delete=fields.RESTRICT
    )
    programme_id: int
    name = fields.CharField(max_length=100, unique=True)
    kind = fields.CharEnumField(PartnerKind, max_length=20)
    # The library the partnership belongs to: the default collection library of the families it enrols, and where
    # its enrollers' accounts sit in the network (their `StaffUser.library`).
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="newborn_partners", on_delete=fields.RESTRICT
    )
    library_id: int
    address = fields.CharField(max_length=200, default="")  # the organisation's, shown to families: not personal
    active = fields.BooleanField(default=True)  # an inactive partner's codes enrol nobody
    created_at = fields.DatetimeField()

    wards: fields.ReverseRelation[Ward]

    class Meta:
        table = "newborn_partner"


class Ward(Model):
    """A ward or clinic of a partner, with its own printed mini-program code: the code names the ward, so a code
    taken down is ended by deactivating its ward, and the enrolments it brought are counted per ward."""

    id = fields.IntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="wards", on_delete=fields.CASCADE
    )
    partner_id: int
    name = fields.CharField(max_length=40)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "newborn_ward"
        unique_together = (("partner", "name"),)


class ConsentEnd(StrEnum):
    WITHDRAWN = "withdrawn"  # the guardian withdrew it (PIPL art. 15)
    RETENTION = "retention"  # the retention period after the last stage ran out
    CARD_CLOSED = "card_closed"  # the child's card was removed


class Consent(Model):
    """The guardian's separate consent to the child's data being processed in the programme: which text, when, and
    when it ended. It names no child, so it outlives the enrolment it was given for (deleted when consent ends) as
    the record that consent was given and withdrawn."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="newborn_consents", on_delete=fields.CASCADE
    )
    guardian_id: int
    text: fields.ForeignKeyRelation[ConsentText] = fields.ForeignKeyField(
        "models.ConsentText", related_name="consents", on_delete=fields.RESTRICT
    )
    text_id: int
    given_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.CharEnumField(ConsentEnd, max_length=20, null=True)

    class Meta:
        table = "newborn_consent"
        constraints = (CheckConstraint(check="(ended_at IS NULL) = (ended_by IS NULL)", name="newborn_consent_ended"),)


class EnrolmentChannel(StrEnum):
    PARTNER = "partner"  # the guardian scanned a partner ward's code
    APP = "app"  # the guardian enrolled in the app, choosing the collection library


class Enrolment(Model):
    """A child enrolled in a programme: the programme record. One per child card (unique here), and one child card per
    guardian, name and date of birth (unique on `reader`), so the same child is never enrolled twice. Everything
    personal of the programme hangs off it and is deleted with it when consent ends."""

    id = fields.IntField(primary_key=True)
    programme: fields.ForeignKeyRelation[Programme] = fields.ForeignKeyField(
        "models.Programme", related_name="enrolments", on_delete=fields.RESTRICT
    )
    programme_id: int
    child: fields.OneToOneRelation[Reader] = fields.OneToOneField(
        "models.Reader", related_name="newborn_enrolment", on_delete=fields.CASCADE
    )
    child_id: int
    guardian: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="newborn_enrolments", on_delete=fields.CASCADE
    )
    guardian_id: int
    consent: fields.OneToOneRelation[Consent] = fields.OneToOneField(
        "models.Consent", related_name="enrolment", on_delete=fields.RESTRICT
    )
    consent_id: int
    channel = fields.CharEnumField(EnrolmentChannel, max_length=10)
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="enrolments", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    ward: fields.ForeignKeyNullableRelation[Ward] = fields.ForeignKeyField(
        "models.Ward", related_name="enrolments", null=True, on_delete=fields.SET_NULL
    )
    ward_id: int | None
    # Where the family collects its packs.
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="newborn_enrolments", on_delete=fields.RESTRICT
    )
    library_id: int
    # The stage the child was last moved into (by enrolment or the stage-change job); None before the first stage
    # (an unborn child cannot enrol, but a programme may start at 6 months) and after the last.
    stage: fields.ForeignKeyNullableRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="enrolments", null=True, on_delete=fields.RESTRICT
    )
    stage_id: int | None
    enrolled_at = fields.DatetimeField()

    class Meta:
        table = "newborn_enrolment"
        indexes = (("partner_id", "enrolled_at"), ("library_id", "enrolled_at"))
        constraints = (
            CheckConstraint(
                check="(channel = 'partner') = (partner_id IS NOT NULL)", name="newborn_enrolment_partner_channel"
            ),
        )


class EnrolmentTally(Model):
    """Enrolments counted per programme, partner (none: in the app), collection library and month of the network's
    calendar: the anonymous counts that stay when an enrolment is deleted. One row per key: a unique constraint with
    NULLS NOT DISTINCT (migration), added to with INSERT ... ON CONFLICT so concurrent enrolments never lose one."""

    id = fields.IntField(primary_key=True)
    programme: fields.ForeignKeyRelation[Programme] = fields.ForeignKeyField(
        "models.Programme", related_name="tallies", on_delete=fields.CASCADE
    )
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="tallies", null=True, on_delete=fields.CASCADE
    )
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="newborn_tallies", on_delete=fields.CASCADE
    )
    month = fields.DateField()  # its first day
    enrolled = fields.IntField(default=0)
    withdrawn = fields.IntField(default=0)  # of those enrolled that month, how many withdrew consent since

    class Meta:
        table = "newborn_enrolment_tally"


class PackStock(Model):
    """The packs of one type at one library: `on_hand` are there, `reserved` are promised to families. Reservations
    may exceed what is on hand (staff are told, and receive more); only on-hand packs are handed out, and the CHECKs
    make a claim that would take the last pack twice fail in the database."""

    id = fields.IntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="pack_stock", on_delete=fields.RESTRICT
    )
    library_id: int
    pack_type: fields.ForeignKeyRelation[PackType] = fields.ForeignKeyField(
        "models.PackType", related_name="stock", on_delete=fields.RESTRICT
    )
    pack_type_id: int
    on_hand = fields.IntField(default=0)
    reserved = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "pack_stock"
        unique_together = (("library", "pack_type"),)
        constraints = (
            CheckConstraint(check="on_hand >= 0", name="pack_stock_on_hand_not_negative"),
            CheckConstraint(check="reserved >= 0", name="pack_stock_reserved_not_negative"),
        )


class StockMovementKind(StrEnum):
    RECEIVE = "receive"  # packs delivered to the library
    ADJUST = "adjust"  # counted, damaged, lost: with the reason
    TRANSFER = "transfer"  # out of or into this library (the sign says which), `counterpart` the other library
    RESERVE = "reserve"  # set aside for a family (reserved + 1)
    CLAIM = "claim"  # handed to the family (on hand - 1, reserved - 1)
    LAPSE = "lapse"  # not collected in time (reserved - 1)
    CANCEL = "cancel"  # the reservation went with its enrolment: consent withdrawn, the card closed (reserved - 1)


class StockMovement(Model):
    """One line of the pack ledger of a library and pack type, written in the transaction that changes its
    `PackStock` row: the stock is the sum of its lines. It names no family (the reservation is set null when its
    enrolment goes), so the counts of packs reserved, claimed and lapsed per stage and library stay."""

    id = fields.BigIntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="pack_movements", on_delete=fields.RESTRICT
    )
    library_id: int
    pack_type: fields.ForeignKeyRelation[PackType] = fields.ForeignKeyField(
        "models.PackType", related_name="movements", on_delete=fields.RESTRICT
    )
    pack_type_id: int
    kind = fields.CharEnumField(StockMovementKind, max_length=10)
    on_hand_change = fields.IntField(default=0)
    reserved_change = fields.IntField(default=0)
    reason = fields.CharField(max_length=200, default="")
    counterpart: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="pack_movements_from_elsewhere", null=True, on_delete=fields.RESTRICT
    )
    stage: fields.ForeignKeyNullableRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="pack_movements", null=True, on_delete=fields.SET_NULL
    )
    reservation: fields.ForeignKeyNullableRelation[PackReservation] = fields.ForeignKeyField(
        "models.PackReservation", related_name="movements", null=True, on_delete=fields.SET_NULL
    )
    reservation_id: int | None
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="pack_movements", null=True, on_delete=fields.SET_NULL
    )  # none: a job (a lapse) or the family's own action
    at = fields.DatetimeField()

    class Meta:
        table = "pack_movement"
        # reservation_id: deleting an enrolment sets its reservations' lines to null, which would scan the ledger.
        indexes = (("library_id", "pack_type_id", "at"), ("reservation_id",))
        constraints = (
            CheckConstraint(check="kind <> 'adjust' OR reason <> ''", name="pack_movement_adjust_reason"),
            CheckConstraint(
                check="(kind = 'transfer') = (counterpart_id IS NOT NULL)", name="pack_movement_transfer_counterpart"
            ),
        )


class ReservationStatus(StrEnum):
    RESERVED = "reserved"  # waiting at the library
    CLAIMED = "claimed"  # handed to the family
    LAPSED = "lapsed"  # not collected in time: back to stock, the stage's pack is not reserved again


class PackReservation(Model):
    """A stage's pack set aside for an enrolled child at the family's library. One per enrolment and stage, whatever
    its status: a unique constraint, so concurrent reservations or claims at two libraries give one pack."""

    id = fields.IntField(primary_key=True)
    enrolment: fields.ForeignKeyRelation[Enrolment] = fields.ForeignKeyField(
        "models.Enrolment", related_name="reservations", on_delete=fields.CASCADE
    )
    enrolment_id: int
    stage: fields.ForeignKeyRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="reservations", on_delete=fields.RESTRICT
    )
    stage_id: int
    pack_type: fields.ForeignKeyRelation[PackType] = fields.ForeignKeyField(
        "models.PackType", related_name="reservations", on_delete=fields.RESTRICT
    )
    pack_type_id: int
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="pack_reservations", on_delete=fields.RESTRICT
    )
    library_id: int
    status = fields.CharEnumField(ReservationStatus, max_length=10, default=ReservationStatus.RESERVED)
    reserved_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True)
    # Where it was handed out, which may not be where it was reserved.
    claimed_library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="pack_claims", null=True, on_delete=fields.RESTRICT
    )
    claimed_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="pack_claims", null=True, on_delete=fields.SET_NULL
    )
    lapsed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pack_reservation"
        unique_together = (("enrolment", "stage"),)
        indexes = (("status", "expires_at"), ("library_id", "status"))
        constraints = (
            CheckConstraint(
                check="(status = 'claimed') = (claimed_at IS NOT NULL AND claimed_library_id IS NOT NULL)",
                name="pack_reservation_claimed",
            ),
        )


class ReadingSource(StrEnum):
    LOAN = "loan"  # borrowed on the child's card: written when the loan opens
    CATALOGUE = "catalogue"  # chosen from the catalogue by the parent
    ISBN = "isbn"  # a scanned ISBN (with the record when the catalogue has it)
    FREE_TEXT = "free_text"  # a title typed by the parent


class ReadingLogEntry(Model):
    """A book read with the child (阅读档案): borrowed on the child's card, or read at home and logged by the parent.
    The title is kept as it was when logged, so an entry still reads after its record or loan is gone."""

    id = fields.BigIntField(primary_key=True)
    enrolment: fields.ForeignKeyRelation[Enrolment] = fields.ForeignKeyField(
        "models.Enrolment", related_name="reading_log", on_delete=fields.CASCADE
    )
    enrolment_id: int
    source = fields.CharEnumField(ReadingSource, max_length=10)
    record: fields.ForeignKeyNullableRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="newborn_reading", null=True, on_delete=fields.SET_NULL
    )
    record_id: int | None
    # A loan is logged once however often its event is handled.
    loan: fields.OneToOneNullableRelation[Loan] = fields.OneToOneField(
        "models.Loan", related_name="newborn_reading", null=True, on_delete=fields.SET_NULL
    )
    isbn13 = fields.CharField(max_length=13, null=True)
    title = fields.CharField(max_length=200)
    read_on = fields.DateField()  # a day of the network's calendar
    minutes = fields.SmallIntField(null=True)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "newborn_reading"
        indexes = (("enrolment_id", "read_on", "id"), ("created_at",))
        constraints = (
            CheckConstraint(check="minutes IS NULL OR minutes BETWEEN 1 AND 1440", name="newborn_reading_minutes"),
            CheckConstraint(check="title <> ''", name="newborn_reading_title"),
        )


class Milestone(Model):
    """A number of books read reached ("1,000 books before kindergarten": 10, 50, 100, 500, 1,000), once per child and
    number; the certificate is drawn from it when asked for, not stored."""

    id = fields.IntField(primary_key=True)
    enrolment: fields.ForeignKeyRelation[Enrolment] = fields.ForeignKeyField(
        "models.Enrolment", related_name="milestones", on_delete=fields.CASCADE
    )
    enrolment_id: int
    books = fields.SmallIntField()
    reached_at = fields.DatetimeField()

    class Meta:
        table = "newborn_milestone"
        unique_together = (("enrolment", "books"),)
