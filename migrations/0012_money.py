from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.money.models import AnomalyKind, Channel, ChargeKind, DepositKind, PaymentState, RefundState, SettlementKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

# Money (issue 15): charges on a card and the settlements, refunds and deposits against them, append-only lines with
# unique occasions; payment orders with their lines, and the payment facts that fit no order; a copy's replacement
# price. One open payment order per charge: a partial unique index, which the models cannot declare.
#
# The lowest credit tier is what a reader who is not deposit-free borrows with a deposit held: as shipped it lent
# nothing (0 loans of 0 days), so a deposit would have bought nothing. An installation that kept those defaults gets
# two loans of 30 days and one hold (a card with a deposit, as in Shanghai); one that changed them keeps its own.
#
# The CHECK constraints each follow their table as an AddConstraint: CreateModel records a model's constraints in the
# state but does not create them in the database.
_OPEN_PER_CHARGE = (
    "CREATE UNIQUE INDEX payment_line_open_per_charge ON money_payment_line (charge_id) WHERE open",
    "DROP INDEX payment_line_open_per_charge",
)
_DEPOSIT_TIER = (
    "UPDATE credit_tier SET max_loans = 2, max_loan_days = 30, max_holds = 1"
    " WHERE NOT deposit_free AND max_loans = 0 AND max_loan_days = 0 AND max_holds = 0",
    "UPDATE credit_tier SET max_loans = 0, max_loan_days = 0, max_holds = 0"
    " WHERE NOT deposit_free AND max_loans = 2 AND max_loan_days = 30 AND max_holds = 1",
)


class Migration(migrations.Migration):
    dependencies = [('models', '0011_newborn')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Charge',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='charges', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='OVERDUE: overdue\nLOST: lost\nDAMAGED: damaged\nPROCESSING: processing\nDELIVERY: delivery', enum_type=ChargeKind, max_length=12)),
                ('amount_fen', fields.IntField()),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', null=True, db_constraint=True, to_field='id', related_name='charges', on_delete=OnDelete.SET_NULL)),
                ('source', fields.CharField(default='', max_length=80)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='charges', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='charges_assessed', on_delete=OnDelete.SET_NULL)),
                ('note', fields.CharField(default='', max_length=200)),
                ('occasion', fields.CharField(unique=True, max_length=80)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_charge', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'created_at']), Index(fields=['library_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "Something a card owes: `amount_fen` less its settlements is what it still comes to. A child's card's charges"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Charge',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_charge_amount_positive'),
        ),
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('out_trade_no', fields.CharField(unique=True, max_length=32)),
                ('payer', fields.ForeignKeyField('models.Reader', source_field='payer_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('amount_fen', fields.IntField()),
                ('state', fields.CharEnumField(default=PaymentState.OPEN, description='OPEN: open\nPAID: paid\nCLOSED: closed', enum_type=PaymentState, max_length=10)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('transaction_id', fields.CharField(null=True, unique=True, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_payment', 'app': 'models', 'indexes': [Index(fields=['state', 'expires_at']), Index(fields=['payer_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "A payment order of ours (WeChat Pay's `out_trade_no`) for chosen lines of a payer's account: their charges'"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Payment',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_payment_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='Payment',
            constraint=CheckConstraint(check='char_length(out_trade_no) BETWEEN 6 AND 32', name='money_payment_out_trade_no'),
        ),
        ops.AddConstraint(
            model_name='Payment',
            constraint=CheckConstraint(check="(state = 'paid') = (transaction_id IS NOT NULL AND paid_at IS NOT NULL)", name='money_payment_paid'),
        ),
        ops.CreateModel(
            name='DepositLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='deposit_lines', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='PAID: deposit_paid\nREFUNDED: deposit_refunded', enum_type=DepositKind, max_length=20)),
                ('amount_fen', fields.IntField()),
                ('channel', fields.CharEnumField(description='WECHAT_PAY: wechat_pay\nDESK_CASH: desk_cash\nDESK_CARD: desk_card', enum_type=Channel, max_length=12)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='deposit_lines', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', null=True, db_constraint=True, to_field='id', related_name='deposit_lines', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='deposit_lines', on_delete=OnDelete.SET_NULL)),
                ('occasion', fields.CharField(unique=True, max_length=80)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_deposit', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'created_at']), Index(fields=['library_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "A deposit paid in or given back: the card's deposit is paid less refunded. Not revenue."},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='DepositLine',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_deposit_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='DepositLine',
            constraint=CheckConstraint(check="channel = 'wechat_pay' OR library_id IS NOT NULL", name='money_deposit_desk'),
        ),
        ops.CreateModel(
            name='PaymentAnomaly',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='UNKNOWN_ORDER: unknown_order\nAMOUNT_MISMATCH: amount_mismatch\nPAID_TWICE: paid_twice\nBAD_TRANSACTION: bad_transaction', enum_type=AnomalyKind, max_length=20)),
                ('out_trade_no', fields.CharField(max_length=64)),
                ('transaction_id', fields.CharField(max_length=64)),
                ('amount_fen', fields.IntField()),
                ('expected_fen', fields.IntField(null=True)),
                ('occasion', fields.CharField(unique=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_payment_anomaly', 'app': 'models', 'indexes': [Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'A payment fact that changed nothing because it does not fit our orders: for staff to look into. Written once'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaymentLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='lines', on_delete=OnDelete.RESTRICT)),
                ('charge', fields.ForeignKeyField('models.Charge', source_field='charge_id', null=True, db_constraint=True, to_field='id', related_name='payment_lines', on_delete=OnDelete.RESTRICT)),
                ('amount_fen', fields.IntField()),
                ('deposit_to_fen', fields.IntField(null=True)),
                ('open', fields.BooleanField(default=True)),
            ],
            options={'table': 'money_payment_line', 'app': 'models', 'unique_together': (('payment', 'charge'),), 'pk_attr': 'id', 'table_description': "One line of a payment order: a charge's amount, or (no charge) a deposit for the payer. While `open`, the"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='PaymentLine',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_payment_line_amount_positive'),
        ),
        ops.CreateModel(
            name='Settlement',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('charge', fields.ForeignKeyField('models.Charge', source_field='charge_id', db_constraint=True, to_field='id', related_name='settlements', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='WECHAT_PAY: wechat_pay\nDESK_CASH: desk_cash\nDESK_CARD: desk_card\nWAIVER: waiver', enum_type=SettlementKind, max_length=12)),
                ('amount_fen', fields.IntField()),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='settlements', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', null=True, db_constraint=True, to_field='id', related_name='settlements', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='settlements', on_delete=OnDelete.SET_NULL)),
                ('note', fields.CharField(default='', max_length=200)),
                ('occasion', fields.CharField(unique=True, max_length=80)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_settlement', 'app': 'models', 'indexes': [Index(fields=['charge_id']), Index(fields=['library_id', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': "What settles (part of) one charge: money taken, or a waiver. Their sum never exceeds the charge's amount:"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Settlement',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_settlement_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='Settlement',
            constraint=CheckConstraint(check="(kind = 'wechat_pay') = (payment_id IS NOT NULL)", name='money_settlement_wechat_payment'),
        ),
        ops.AddConstraint(
            model_name='Settlement',
            constraint=CheckConstraint(check="(kind = 'wechat_pay') = (library_id IS NULL)", name='money_settlement_desk_library'),
        ),
        ops.AddConstraint(
            model_name='Settlement',
            constraint=CheckConstraint(check="kind <> 'waiver' OR note <> ''", name='money_settlement_waiver_reason'),
        ),
        ops.CreateModel(
            name='Refund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('out_refund_no', fields.CharField(unique=True, max_length=64)),
                ('settlement', fields.ForeignKeyField('models.Settlement', source_field='settlement_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('charge', fields.ForeignKeyField('models.Charge', source_field='charge_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='WECHAT_PAY: wechat_pay\nDESK_CASH: desk_cash\nDESK_CARD: desk_card', enum_type=Channel, max_length=12)),
                ('amount_fen', fields.IntField()),
                ('state', fields.CharEnumField(default=RefundState.PENDING, description='PENDING: pending\nSUCCEEDED: succeeded\nFAILED: failed', enum_type=RefundState, max_length=10)),
                ('reason', fields.CharField(max_length=200)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.SET_NULL)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_refund', 'app': 'models', 'indexes': [Index(fields=['settlement_id']), Index(fields=['payment_id']), Index(fields=['state', 'created_at']), Index(fields=['library_id', 'finished_at'])], 'pk_attr': 'id', 'table_description': "Money given back: part of a settlement, or (no settlement) a payment's line that found its charge already"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Refund',
            constraint=CheckConstraint(check='amount_fen > 0', name='money_refund_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='Refund',
            constraint=CheckConstraint(check='settlement_id IS NOT NULL OR payment_id IS NOT NULL', name='money_refund_of_something'),
        ),
        ops.AddConstraint(
            model_name='Refund',
            constraint=CheckConstraint(check="(state = 'pending') = (finished_at IS NULL)", name='money_refund_finished'),
        ),
        ops.AddConstraint(
            model_name='Refund',
            constraint=CheckConstraint(check="(channel = 'wechat_pay') = (payment_id IS NOT NULL)", name='money_refund_wechat'),
        ),
        ops.AddConstraint(
            model_name='Refund',
            constraint=CheckConstraint(check="channel = 'wechat_pay' OR library_id IS NOT NULL", name='money_refund_desk'),
        ),
        ops.AddField(
            model_name='Copy',
            name='price_fen',
            field=fields.IntField(null=True),
        ),
        ops.AddConstraint(
            model_name='Copy',
            constraint=CheckConstraint(check='price_fen IS NULL OR price_fen >= 0', name='copy_price_not_negative'),
        ),
        ops.RunSQL(_OPEN_PER_CHARGE[0], reverse_sql=_OPEN_PER_CHARGE[1]),
        ops.RunSQL(_DEPOSIT_TIER[0], reverse_sql=_DEPOSIT_TIER[1]),
    ]

