"""Partner bookstores and their stock, the purchase rules of each main library, its reader-choice budget, and the
purchases made in the shops."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.catalog.models import Copy, ItemType, Record
from backend.circulation.models import Loan
from backend.network.models import Library
from backend.shipping.models import Shipment


class Bookstore(Model):
    """A partner bookstore (新华书店, a library-and-bookshop) of a main library: what a reader picks there, the main
    library buys, at the shop's discount on list price. Its clerks are staff accounts of role `bookstore_clerk`."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    main_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="partner_bookstores", on_delete=fields.RESTRICT
    )
    main_library_id: int
    address = fields.CharField(max_length=200, default="")
    discount_bp = fields.SmallIntField()  # basis points off list price: 1500 = 15% off (八五折)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "purchase_bookstore"
        constraints = (CheckConstraint(check="discount_bp BETWEEN 0 AND 10000", name="purchase_bookstore_discount"),)


class StockItem(Model):
    """A title a bookstore has for sale, as its stock feed last said: one row per shop and ISBN."""

    id = fields.IntField(primary_key=True)
    bookstore: fields.ForeignKeyRelation[Bookstore] = fields.ForeignKeyField(
        "models.Bookstore", related_name="stock", on_delete=fields.CASCADE
    )
    bookstore_id: int
    isbn13 = fields.CharField(max_length=13, db_index=True)  # partner offers of a title the network lacks
    title = fields.CharField(max_length=500)
    authors = fields.CharField(max_length=500, default="")  # as the feed writes them: "刘慈欣、刘宇昆"
    publisher = fields.CharField(max_length=200, default="")
    year = fields.SmallIntField()
    list_price_fen = fields.IntField()
    quantity = fields.IntField()
    clc_class = fields.CharField(max_length=40, default="")
    item_type = fields.CharEnumField(ItemType, max_length=20, default=ItemType.BOOK)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "purchase_stock"
        unique_together = (("bookstore_id", "isbn13"),)
        constraints = (
            CheckConstraint(check="list_price_fen >= 0", name="purchase_stock_price_not_negative"),
            CheckConstraint(check="quantity >= 0", name="purchase_stock_quantity_not_negative"),
        )


class PurchaseRules(Model):
    """A main library's own purchase rules: each column it states (not null) overrides the network's default from
    the settings, term by term, so a library changes the price cap without restating the rest."""

    id = fields.IntField(primary_key=True)
    main_library: fields.OneToOneRelation[Library] = fields.OneToOneField(
        "models.Library", related_name="purchase_rules", on_delete=fields.CASCADE
    )
    main_library_id: int
    holdings_threshold = fields.SmallIntField(null=True)
    price_cap_fen = fields.IntField(null=True)
    max_age_years = fields.SmallIntField(null=True)
    # Comma-separated, as in the settings: CLC class prefixes, title keywords, item types.
    excluded_classes = fields.CharField(max_length=500, null=True)
    excluded_keywords = fields.CharField(max_length=500, null=True)
    excluded_item_types = fields.CharField(max_length=100, null=True)
    monthly_quota = fields.SmallIntField(null=True)
    max_unreturned = fields.SmallIntField(null=True)
    loan_days = fields.SmallIntField(null=True)
    auto_approve_under_fen = fields.IntField(null=True)  # an online request below this list price needs no staff

    class Meta:
        table = "purchase_rules"


class Budget(Model):
    """A main library's reader-choice budget for a year (month empty), or a month's share of it. What is reserved
    (approved, not yet settled with the shop) and spent never exceed the total: a CHECK, and every charge is one
    conditional UPDATE."""

    id = fields.IntField(primary_key=True)
    main_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="purchase_budgets", on_delete=fields.RESTRICT
    )
    main_library_id: int
    year = fields.SmallIntField()
    month = fields.SmallIntField(null=True)
    total_fen = fields.BigIntField()
    reserved_fen = fields.BigIntField(default=0)
    spent_fen = fields.BigIntField(default=0)

    class Meta:
        table = "purchase_budget"
        constraints = (
            CheckConstraint(
                check="reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= total_fen",
                name="purchase_budget_never_overspent",
            ),
            CheckConstraint(check="month IS NULL OR month BETWEEN 1 AND 12", name="purchase_budget_month"),
        )


class PurchaseState(StrEnum):
    RESERVED = "reserved"  # approved and lent; its price is reserved in the budget until the shop is paid
    SPENT = "spent"  # settled with the shop in its monthly statement
    RELEASED = "released"  # cancelled: the reservation given back


class Statement(Model):
    """A bookstore's monthly settlement: what it sold the library that month, and what the library owes it."""

    id = fields.IntField(primary_key=True)
    bookstore: fields.ForeignKeyRelation[Bookstore] = fields.ForeignKeyField(
        "models.Bookstore", related_name="statements", on_delete=fields.RESTRICT
    )
    bookstore_id: int
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    books = fields.IntField()
    list_total_fen = fields.BigIntField()
    due_fen = fields.BigIntField()
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="purchase_statements", null=True, on_delete=fields.SET_NULL
    )
    settled_at = fields.DatetimeField()

    class Meta:
        table = "purchase_statement"
        unique_together = (("bookstore_id", "year", "month"),)
        constraints = (CheckConstraint(check="month BETWEEN 1 AND 12", name="purchase_statement_month"),)


class Purchase(Model):
    """A book the library bought for a reader in a shop: the copy made of it, its loan to the reader, and what it
    costs the budget (the discounted price). `year` and `month` are the network's calendar month of the approval:
    the reader's quota, the budget's month and the shop's statement count by them."""

    id = fields.IntField(primary_key=True)
    bookstore: fields.ForeignKeyRelation[Bookstore] = fields.ForeignKeyField(
        "models.Bookstore", related_name="purchases", on_delete=fields.RESTRICT
    )
    bookstore_id: int
    main_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="reader_purchases", on_delete=fields.RESTRICT
    )
    main_library_id: int
    # The reader's home library when they chose (the branch whose readers spend the budget), if they had one.
    branch: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="branch_purchases", null=True, on_delete=fields.SET_NULL
    )
    branch_id: int | None
    # Emptied when the card is removed; the purchase stays for the budget and the shop's statement.
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="purchases", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    clerk: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="purchases_approved", null=True, on_delete=fields.SET_NULL
    )
    isbn13 = fields.CharField(max_length=13)
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="purchases", on_delete=fields.RESTRICT
    )
    record_id: int
    copy: fields.OneToOneRelation[Copy] = fields.OneToOneField(
        "models.Copy", related_name="purchase", on_delete=fields.RESTRICT
    )
    copy_id: int
    # None while a book bought online waits on a service point's hold shelf: lent when the reader collects it.
    loan: fields.ForeignKeyNullableRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    loan_id: int | None
    clc_class = fields.CharField(max_length=40, default="")
    list_price_fen = fields.IntField()
    discount_bp = fields.SmallIntField()
    price_fen = fields.IntField()  # what the budget is charged: list price less the shop's discount
    state = fields.CharEnumField(PurchaseState, max_length=10, default=PurchaseState.RESERVED)
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    statement: fields.ForeignKeyNullableRelation[Statement] = fields.ForeignKeyField(
        "models.Statement", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    statement_id: int | None
    approved_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)  # settled or released

    class Meta:
        table = "purchase"
        indexes = (("reader_id", "year", "month"), ("bookstore_id", "year", "month"), ("main_library_id", "year"))


class RequestState(StrEnum):
    PENDING = "pending"  # waiting for the main library's staff
    APPROVED = "approved"  # its price reserved in the budget: the shop is to send it
    SHIPPED = "shipped"
    ARRIVED = "arrived"  # bought (a purchase made) and waiting on the service point's hold shelf for the reader
    RECEIVED = "received"  # the reader has it: a purchase made and lent to them
    REFUSED = "refused"
    CANCELLED = "cancelled"


OPEN_REQUEST = (RequestState.PENDING, RequestState.APPROVED, RequestState.SHIPPED, RequestState.ARRIVED)
# Its price reserved in the budget, its book not yet bought.
RESERVED_REQUEST = (RequestState.APPROVED, RequestState.SHIPPED)


class PurchaseRequest(Model):
    """A reader's choice from a partner's stock online, sent to a service point or their door. Staff approve it (or
    it is approved at once under the library's price), which reserves its price in the budget; the shop sends it;
    when the reader receives it, it becomes a purchase: a copy made and lent to them. `year` and `month` (the
    network's calendar month of the request) count it in the reader's quota while it is open."""

    id = fields.IntField(primary_key=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="purchase_requests", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    bookstore: fields.ForeignKeyRelation[Bookstore] = fields.ForeignKeyField(
        "models.Bookstore", related_name="requests", on_delete=fields.RESTRICT
    )
    bookstore_id: int
    main_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="purchase_requests", on_delete=fields.RESTRICT
    )
    main_library_id: int
    branch: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="branch_purchase_requests", null=True, on_delete=fields.SET_NULL
    )
    branch_id: int | None
    shipment: fields.OneToOneRelation[Shipment] = fields.OneToOneField(
        "models.Shipment", related_name="purchase_request", on_delete=fields.RESTRICT
    )
    shipment_id: int
    isbn13 = fields.CharField(max_length=13)
    title = fields.CharField(max_length=500)
    list_price_fen = fields.IntField()
    discount_bp = fields.SmallIntField()
    price_fen = fields.IntField()
    state = fields.CharEnumField(RequestState, max_length=10, default=RequestState.PENDING)
    auto_approved = fields.BooleanField(default=False)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="purchase_requests_decided", null=True, on_delete=fields.SET_NULL
    )
    reason = fields.CharField(max_length=200, default="")  # a refusal's, or a cancellation's
    year = fields.SmallIntField()
    month = fields.SmallIntField()
    purchase: fields.OneToOneNullableRelation[Purchase] = fields.OneToOneField(
        "models.Purchase", related_name="request", null=True, on_delete=fields.RESTRICT
    )  # made when the shop's parcel reaches the reader or their service point
    purchase_id: int | None
    requested_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "purchase_request"
        indexes = (
            ("reader_id", "year", "month"),
            ("main_library_id", "state", "requested_at"),
            ("bookstore_id", "state"),
        )
