"""Reader and staff accounts, login sessions, and the network-wide card number counter."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from backend.network.models import Library

if TYPE_CHECKING:
    from backend.circulation.models import Loan
    from backend.newborn.models import Partner
    from backend.purchases.models import Bookstore


class ReaderType(StrEnum):
    ADULT = "adult"
    CHILD = "child"


class Reader(Model):
    """A reader of the network: one card everywhere. Children have no WeChat login: their guardian acts."""

    id = fields.IntField(primary_key=True)
    card_number = fields.CharField(max_length=20, unique=True)
    reader_type = fields.CharEnumField(ReaderType, max_length=10, default=ReaderType.ADULT)
    # WeChat identity; never leaves the server (no response schema carries it).
    openid = fields.CharField(max_length=64, unique=True, null=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    session_key_encrypted = fields.BinaryField(null=True)
    phone_encrypted = fields.BinaryField(null=True)
    phone_index = fields.CharField(max_length=64, null=True, db_index=True)
    name = fields.CharField(max_length=50, default="")
    birth_month = fields.CharField(max_length=7, null=True)  # "YYYY-MM", children only
    # The day, when it is known (a newborn programme's stages are months long): `birth_month` is then its month.
    date_of_birth = fields.DateField(null=True)
    guardian: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="children", null=True, on_delete=fields.CASCADE
    )
    # PIPL art. 31: a child's data is processed only with the guardian's separate consent, recorded here.
    guardian_consent_at = fields.DatetimeField(null=True)
    keeps_reading_history = fields.BooleanField(default=False)  # PIPL: opt-in, off by default (Koha, Aspen)
    # Access tokens carry the generation they were issued in; ending the reader's sessions moves it on, so their
    # access tokens stop at once (every request re-reads this row anyway) rather than within their 15 minutes.
    session_generation = fields.IntField(db_default=0)
    home_library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="home_readers", null=True, on_delete=fields.SET_NULL
    )
    home_library_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    loans: fields.ReverseRelation[Loan]

    class Meta:
        table = "reader"
        # One card per child of a guardian, name and date of birth: a child enrolled at two hospitals at once gets
        # one card (adults have no guardian and cards without a day no date: NULLs are distinct, so they are free).
        unique_together = (("guardian", "name", "date_of_birth"),)


class CardRetiredBy(StrEnum):
    READER = "reader"
    GUARDIAN = "guardian"
    STAFF = "staff"


class RetiredCard(Model):
    """A card number reported lost and replaced: kept so that a desk typing or scanning it is told the card was
    reported lost (not "no such card"), and, unique, so that no card can take the number again."""

    id = fields.IntField(primary_key=True)
    card_number = fields.CharField(max_length=20, unique=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="retired_cards", on_delete=fields.CASCADE
    )
    replaced_by = fields.CharField(max_length=20)  # the number issued in its place
    retired_at = fields.DatetimeField()
    retired_on = fields.DateField()  # the network's calendar day, the date the desk is told
    retired_by = fields.CharEnumField(CardRetiredBy, max_length=10)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="retired_cards", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "retired_card"


class StaffRole(StrEnum):
    NETWORK_ADMIN = "network_admin"
    LIBRARY_ADMIN = "library_admin"
    LIBRARIAN = "librarian"
    # A partner hospital's staff who enrol families in the newborn programme: scoped to their partner, and no
    # librarian (`staff_for` refuses them everywhere else).
    ENROLLER = "enroller"
    # A partner bookstore's clerk who approves readers' purchases in the shop: scoped to their bookstore, and no
    # librarian (`staff_for` refuses them everywhere else).
    BOOKSTORE_CLERK = "bookstore_clerk"


class StaffUser(Model):
    """A librarian or administrator who acts on their library and everything below it in the network."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=50, unique=True)
    password_hash = fields.CharField(max_length=200)
    display_name = fields.CharField(max_length=50, default="")
    role = fields.CharEnumField(StaffRole, max_length=20)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="staff", on_delete=fields.RESTRICT
    )
    # An enroller's partner (their library is the partner's); nobody else has one.
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="enrollers", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    # A bookstore clerk's shop (their library is the shop's main library); nobody else has one.
    bookstore: fields.ForeignKeyNullableRelation[Bookstore] = fields.ForeignKeyField(
        "models.Bookstore", related_name="clerks", null=True, on_delete=fields.RESTRICT
    )
    bookstore_id: int | None
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_user"
        constraints = (
            CheckConstraint(check="(role = 'enroller') = (partner_id IS NOT NULL)", name="staff_user_enroller_partner"),
            CheckConstraint(
                check="(role = 'bookstore_clerk') = (bookstore_id IS NOT NULL)", name="staff_user_clerk_bookstore"
            ),
        )


class AuthSession(Model):
    """One refresh token. Rotated on every use, and all rotations of one login share a family, so the replay of
    an old token (a stolen copy) revokes the whole family."""

    id = fields.IntField(primary_key=True)
    family = fields.UUIDField(db_index=True)
    token_digest = fields.CharField(max_length=64, unique=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auth_session"


class Counter(Model):
    """Named monotonic counters: a row lock on UPDATE makes each allocation atomic on every database."""

    name = fields.CharField(max_length=40, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counter"
