"""The log of staff look-ups of readers (PIPL: who saw whose personal data, and when)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import StaffUser
from backend.network.models import Library


class LookupAction(StrEnum):
    SEARCH = "search"  # a list of readers matching a card number, a phone or a name
    VIEW = "view"  # one reader's profile, loans, holds, credit, suspensions and children
    VERIFY = "verify"  # a card number typed at a desk, to see whose card it is
    CREDIT = "credit"  # one reader's credit and its ledger, staff notes included
    REPLACE = "replace"  # a card replaced at a desk, whose answer names its holder
    NEWBORN = "newborn"  # children's records of the newborn programme: enrolments listed or one shown
    LABEL = "label"  # a delivery parcel's label: the reader's full name, phone and address, at the packing desk


class LookupBy(StrEnum):
    CARD_NUMBER = "card_number"
    PHONE = "phone"
    NAME = "name"
    ENROLMENT = "enrolment"  # an enrolment's id, or the filter of a list of enrolments
    ORDER = "order"  # a delivery order's id


class ReaderLookup(Model):
    """One look-up of readers by a staff member: what was asked (its kind and a keyed hash of it, never the phone or
    name typed), which readers were shown, and whether a child's record was among them (PIPL art. 31)."""

    id = fields.BigIntField(primary_key=True)
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="reader_lookups", on_delete=fields.RESTRICT
    )
    # The staff member's library at the time: an administrator reads the log of the libraries in their scope, and a
    # librarian moved to another library later does not take their past look-ups along.
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="reader_lookups", on_delete=fields.RESTRICT
    )
    action = fields.CharEnumField(LookupAction, max_length=10)
    looked_up_by = fields.CharEnumField(LookupBy, max_length=20)
    # `Keys.blind_index` of the query as normalised: for a phone it equals the reader's `phone_index`, so an audit can
    # ask "who searched for this number" without the log holding it.
    query_digest = fields.CharField(max_length=64)
    # Ids, not card numbers or names: a child's card deleted at the guardian's request (PIPL art. 47) leaves an id
    # that names nobody.
    reader_ids: list[int] = fields.JSONField(default=list)
    children_shown = fields.BooleanField()
    # The reader looked up by card number was not one the staff member may browse (`browsable_by`): a visitor from
    # another district, or someone counting through card numbers, which this lets an administrator tell apart.
    outside_scope = fields.BooleanField()
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "reader_lookup"
