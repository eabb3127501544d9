"""The money ledger: charges on a card, the settlements and refunds against them, deposits, payment orders.

Every line is appended, never changed (a payment order's and a refund's state excepted): what a card owes, what a
charge still comes to and what a deposit holds are sums of lines, in integer fen. Each line has a unique occasion
(as the credit ledger does), so whatever writes it twice (a replayed event, a repeated notice) writes it once.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.circulation.models import Loan
from backend.network.models import Library


class ChargeKind(StrEnum):
    OVERDUE = "overdue"
    LOST = "lost"  # the copy's replacement price
    DAMAGED = "damaged"
    PROCESSING = "processing"  # the fee for replacing a lost or damaged copy
    DELIVERY = "delivery"


class Channel(StrEnum):
    """How money moves: in by WeChat Pay or at a desk, and back the same way."""

    WECHAT_PAY = "wechat_pay"
    DESK_CASH = "desk_cash"
    DESK_CARD = "desk_card"


class SettlementKind(StrEnum):
    WECHAT_PAY = "wechat_pay"
    DESK_CASH = "desk_cash"
    DESK_CARD = "desk_card"
    WAIVER = "waiver"  # staff forgo the charge: no money moves


class Charge(Model):
    """Something a card owes: `amount_fen` less its settlements is what it still comes to. A child's card's charges
    are on the child's card and paid by the guardian."""

    id = fields.BigIntField(primary_key=True)
    # Emptied only when a child's card is removed, which its own charges settled first allow (subscribers.py).
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="charges", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    kind = fields.CharEnumField(ChargeKind, max_length=12)
    amount_fen = fields.IntField()
    loan: fields.ForeignKeyNullableRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="charges", null=True, on_delete=fields.SET_NULL
    )
    loan_id: int | None
    source = fields.CharField(max_length=80, default="")  # what else it came from: "delivery-order:123"
    # Whose revenue it is (the lending library, the copy's owner), for the reports.
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="charges", on_delete=fields.RESTRICT
    )
    library_id: int
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="charges_assessed", null=True, on_delete=fields.SET_NULL
    )  # none: charged by a rule (an overdue return)
    note = fields.CharField(max_length=200, default="")
    occasion = fields.CharField(max_length=80, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "money_charge"
        indexes = (("reader_id", "created_at"), ("library_id", "created_at"))
        constraints = (CheckConstraint(check="amount_fen > 0", name="money_charge_amount_positive"),)


class PaymentState(StrEnum):
    OPEN = "open"  # waiting for the reader to pay: its lines are reserved
    PAID = "paid"
    CLOSED = "closed"  # expired or given up: its lines are payable again


class Payment(Model):
    """A payment order of ours (WeChat Pay's `out_trade_no`) for chosen lines of a payer's account: their charges'
    outstanding amounts, and a deposit."""

    id = fields.BigIntField(primary_key=True)
    out_trade_no = fields.CharField(max_length=32, unique=True)
    payer: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="payments", on_delete=fields.RESTRICT
    )
    payer_id: int
    amount_fen = fields.IntField()
    state = fields.CharEnumField(PaymentState, max_length=10, default=PaymentState.OPEN)
    expires_at = fields.DatetimeField()
    transaction_id = fields.CharField(max_length=32, unique=True, null=True)  # WeChat Pay's, once paid
    created_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "money_payment"
        indexes = (("state", "expires_at"), ("payer_id", "created_at"))
        constraints = (
            CheckConstraint(check="amount_fen > 0", name="money_payment_amount_positive"),
            CheckConstraint(check="char_length(out_trade_no) BETWEEN 6 AND 32", name="money_payment_out_trade_no"),
            CheckConstraint(
                check="(state = 'paid') = (transaction_id IS NOT NULL AND paid_at IS NOT NULL)",
                name="money_payment_paid",
            ),
        )


class PaymentLine(Model):
    """One line of a payment order: a charge's amount, or (no charge) a deposit for the payer. While `open`, the
    charge is reserved: one open line per charge (a partial unique index, migration), and a desk payment or a waiver
    of it is refused."""

    id = fields.BigIntField(primary_key=True)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="lines", on_delete=fields.RESTRICT
    )
    payment_id: int
    charge: fields.ForeignKeyNullableRelation[Charge] = fields.ForeignKeyField(
        "models.Charge", related_name="payment_lines", null=True, on_delete=fields.RESTRICT
    )
    charge_id: int | None
    amount_fen = fields.IntField()
    # A deposit line's aim: the network's deposit when the order was opened. Paid late (after a desk took the
    # deposit, say), it adds only what is still missing of that; the rest is refunded.
    deposit_to_fen = fields.IntField(null=True)
    open = fields.BooleanField(default=True)  # the order's state, kept here for the index: false once paid or closed

    class Meta:
        table = "money_payment_line"
        unique_together = (("payment", "charge"),)
        constraints = (CheckConstraint(check="amount_fen > 0", name="money_payment_line_amount_positive"),)


class Settlement(Model):
    """What settles (part of) one charge: money taken, or a waiver. Their sum never exceeds the charge's amount:
    each is written under the charge's row lock."""

    id = fields.BigIntField(primary_key=True)
    charge: fields.ForeignKeyRelation[Charge] = fields.ForeignKeyField(
        "models.Charge", related_name="settlements", on_delete=fields.RESTRICT
    )
    charge_id: int
    kind = fields.CharEnumField(SettlementKind, max_length=12)
    amount_fen = fields.IntField()
    payment: fields.ForeignKeyNullableRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="settlements", null=True, on_delete=fields.RESTRICT
    )
    payment_id: int | None
    # Where staff took the money or waived it (the daily cash report's); none for WeChat Pay.
    library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="settlements", null=True, on_delete=fields.RESTRICT
    )
    library_id: int | None
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="settlements", null=True, on_delete=fields.SET_NULL
    )
    note = fields.CharField(max_length=200, default="")  # a waiver's reason
    occasion = fields.CharField(max_length=80, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "money_settlement"
        indexes = (("charge_id",), ("library_id", "created_at"), ("created_at",))
        constraints = (
            CheckConstraint(check="amount_fen > 0", name="money_settlement_amount_positive"),
            CheckConstraint(
                check="(kind = 'wechat_pay') = (payment_id IS NOT NULL)", name="money_settlement_wechat_payment"
            ),
            CheckConstraint(check="(kind = 'wechat_pay') = (library_id IS NULL)", name="money_settlement_desk_library"),
            CheckConstraint(check="kind <> 'waiver' OR note <> ''", name="money_settlement_waiver_reason"),
        )


class RefundState(StrEnum):
    PENDING = "pending"  # owed to the reader: WeChat Pay asked (or to be asked) to return it
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # not returned: no longer counts against what was paid
    # WeChat Pay could not return it to the payer's account: still counts, as WeChat Pay may yet return it
    ABNORMAL = "abnormal"


class Refund(Model):
    """Money given back: part of a settlement, or (no settlement) a payment's line that found its charge already
    settled. Refunds that have not failed never exceed the settlement, nor all of a payment's its amount: each is
    written under the row locks of both. A refund does not reopen the charge: the library gives the money back."""

    id = fields.BigIntField(primary_key=True)
    out_refund_no = fields.CharField(max_length=64, unique=True)
    settlement: fields.ForeignKeyNullableRelation[Settlement] = fields.ForeignKeyField(
        "models.Settlement", related_name="refunds", null=True, on_delete=fields.RESTRICT
    )
    settlement_id: int | None
    payment: fields.ForeignKeyNullableRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="refunds", null=True, on_delete=fields.RESTRICT
    )
    payment_id: int | None
    # The charge the money was taken for (the reports' library and kind); none for a deposit.
    charge: fields.ForeignKeyNullableRelation[Charge] = fields.ForeignKeyField(
        "models.Charge", related_name="refunds", null=True, on_delete=fields.RESTRICT
    )
    charge_id: int | None
    channel = fields.CharEnumField(Channel, max_length=12)
    amount_fen = fields.IntField()
    state = fields.CharEnumField(RefundState, max_length=10, default=RefundState.PENDING)
    reason = fields.CharField(max_length=200)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="refunds", null=True, on_delete=fields.SET_NULL
    )  # none: refunded by the service (a line paid twice)
    library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="refunds", null=True, on_delete=fields.RESTRICT
    )  # where a desk handed the money back
    library_id: int | None
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "money_refund"
        indexes = (("settlement_id",), ("payment_id",), ("state", "created_at"), ("library_id", "finished_at"))
        constraints = (
            CheckConstraint(check="amount_fen > 0", name="money_refund_amount_positive"),
            CheckConstraint(
                check="settlement_id IS NOT NULL OR payment_id IS NOT NULL", name="money_refund_of_something"
            ),
            CheckConstraint(check="(state = 'pending') = (finished_at IS NULL)", name="money_refund_finished"),
            CheckConstraint(check="(channel = 'wechat_pay') = (payment_id IS NOT NULL)", name="money_refund_wechat"),
            CheckConstraint(check="channel = 'wechat_pay' OR library_id IS NOT NULL", name="money_refund_desk"),
        )


class DepositKind(StrEnum):
    PAID = "deposit_paid"
    REFUNDED = "deposit_refunded"


class DepositLine(Model):
    """A deposit paid in or given back: the card's deposit is paid less refunded. Not revenue."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="deposit_lines", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    kind = fields.CharEnumField(DepositKind, max_length=20)
    amount_fen = fields.IntField()
    channel = fields.CharEnumField(Channel, max_length=12)
    payment: fields.ForeignKeyNullableRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="deposit_lines", null=True, on_delete=fields.RESTRICT
    )
    library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="deposit_lines", null=True, on_delete=fields.RESTRICT
    )
    library_id: int | None
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="deposit_lines", null=True, on_delete=fields.SET_NULL
    )
    occasion = fields.CharField(max_length=80, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "money_deposit"
        indexes = (("reader_id", "created_at"), ("library_id", "created_at"))
        constraints = (
            CheckConstraint(check="amount_fen > 0", name="money_deposit_amount_positive"),
            CheckConstraint(check="channel = 'wechat_pay' OR library_id IS NOT NULL", name="money_deposit_desk"),
        )


class AnomalyKind(StrEnum):
    UNKNOWN_ORDER = "unknown_order"  # paid for an out_trade_no we never made
    AMOUNT_MISMATCH = "amount_mismatch"  # paid another amount than the order's
    PAID_TWICE = "paid_twice"  # an order already paid, paid again under another transaction
    BAD_TRANSACTION = "bad_transaction"  # a transaction id longer than WeChat Pay's 32, or another order's already
    # A notice whose signature is not WeChat Pay's, one per sender a minute: transaction_id holds the sender's address
    FORGED_NOTICE = "forged_notice"


class PaymentAnomaly(Model):
    """A payment fact that changed nothing because it does not fit our orders: for staff to look into. Written once
    per fact however often it is reported (`occasion`)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(AnomalyKind, max_length=20)
    out_trade_no = fields.CharField(max_length=64)
    transaction_id = fields.CharField(max_length=64)
    amount_fen = fields.IntField()
    expected_fen = fields.IntField(null=True)  # the order's amount, when there is an order
    occasion = fields.CharField(max_length=200, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "money_payment_anomaly"
        indexes = (("created_at",),)
