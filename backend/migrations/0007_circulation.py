from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.catalog.models import ItemType
from backend.circulation.models import CreditReason, ReaderCategory, RenewFrom, SuspensionKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from typing import Any

# A copy is on one open loan at most, whatever two desks do at the same moment.
_OPEN_LOAN_PER_COPY = "CREATE UNIQUE INDEX loan_open_per_copy ON loan (copy_id) WHERE returned_at IS NULL"
# The defaults, from real libraries (../shared/DOMAIN.md): 20 items on loan at the best tier (Hangzhou), 30-day
# loans with one renewal of 30 days, overdue items block further loans until returned. Every reader starts at 100.
# name, min_score, deposit_free, self_service, max_loans, max_loan_days, max_renewals, max_holds, delivery
_TIERS = [
    ("优秀", 100, True, True, 20, 40, 1, 10, True),
    ("良好", 80, True, True, 10, 30, 1, 5, False),
    ("一般", 60, True, False, 3, 21, 0, 1, False),
    ("受限", -10000, False, False, 0, 0, 0, 0, False),
]
# item_type, loan_days, renewals, renewal_days, credit_per_overdue_day, fee_cents_per_day, fee_cap_cents,
# block_after_overdue_items; the first row, for any reader, item and library, is the mandatory fallback.
_RULES = [
    (None, 30, 1, 30, 1, 10, 500, 1),
    ("periodical", 14, 0, 0, 1, 10, 500, 1),
]


def _sql(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value) if isinstance(value, int) else f"'{value}'"


async def create_defaults(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    await client.execute_script(_OPEN_LOAN_PER_COPY)
    for tier in _TIERS:
        await client.execute_script(
            "INSERT INTO credit_tier (name, min_score, deposit_free, self_service, max_loans, max_loan_days, "
            f"max_renewals, max_holds, delivery) VALUES ({', '.join(_sql(v) for v in tier)})"
        )
    for rule in _RULES:
        await client.execute_script(
            "INSERT INTO loan_rule (item_type, loan_days, renewals, renewal_days, credit_per_overdue_day, "
            "fee_cents_per_day, fee_cap_cents, block_after_overdue_items, renew_from, holds_allowed) "
            f"VALUES ({', '.join(_sql(v) for v in rule)}, 'due_date', TRUE)"
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0006_record_title_lookup')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CreditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='credit_events', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharEnumField(description='ON_TIME_RETURN: on_time_return\nOVERDUE: overdue\nLOST_ITEM: lost_item\nDAMAGED_ITEM: damaged_item\nEVENT_NO_SHOW: event_no_show\nSTAFF_ADJUSTMENT: staff_adjustment', enum_type=CreditReason, max_length=20)),
                ('points', fields.SmallIntField()),
                ('note', fields.CharField(default='', max_length=200)),
                ('occasion', fields.CharField(null=True, unique=True, max_length=80)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='credit_events', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_event', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "One line of a reader's credit ledger (append-only): the score is the starting score plus their sum."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditTier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=20)),
                ('min_score', fields.IntField(unique=True)),
                ('deposit_free', fields.BooleanField()),
                ('self_service', fields.BooleanField()),
                ('max_loans', fields.SmallIntField()),
                ('max_loan_days', fields.SmallIntField()),
                ('max_renewals', fields.SmallIntField()),
                ('max_holds', fields.SmallIntField()),
                ('delivery', fields.BooleanField()),
            ],
            options={'table': 'credit_tier', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What readers with a credit score from `min_score` up (to the next tier) may do.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoanRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader_category', fields.CharEnumField(null=True, description='ADULT: adult\nCHILD: child\nLITTLE_READER: little_reader', enum_type=ReaderCategory, max_length=20)),
                ('item_type', fields.CharEnumField(null=True, description='BOOK: book\nPICTURE_BOOK: picture_book\nPERIODICAL: periodical\nAUDIOVISUAL: audiovisual', enum_type=ItemType, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', null=True, db_constraint=True, to_field='id', related_name='loan_rules', on_delete=OnDelete.CASCADE)),
                ('loan_days', fields.SmallIntField()),
                ('renewals', fields.SmallIntField()),
                ('renewal_days', fields.SmallIntField()),
                ('renew_from', fields.CharEnumField(default=RenewFrom.DUE_DATE, description='DUE_DATE: due_date\nTODAY: today', enum_type=RenewFrom, max_length=10)),
                ('holds_allowed', fields.BooleanField(default=True)),
                ('credit_per_overdue_day', fields.SmallIntField()),
                ('fee_cents_per_day', fields.SmallIntField(default=0)),
                ('fee_cap_cents', fields.SmallIntField(default=0)),
                ('block_after_overdue_items', fields.SmallIntField()),
            ],
            options={'table': 'loan_rule', 'app': 'models', 'unique_together': (('reader_category', 'item_type', 'library'),), 'pk_attr': 'id', 'table_description': "A row of the circulation rule table, in the manner of Koha's: the most specific row for a reader category,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Loan',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('copy', fields.ForeignKeyField('models.Copy', source_field='copy_id', db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.RESTRICT)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.SET_NULL)),
                ('reader_category', fields.CharEnumField(description='ADULT: adult\nCHILD: child\nLITTLE_READER: little_reader', enum_type=ReaderCategory, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='loans_made', on_delete=OnDelete.RESTRICT)),
                ('rule', fields.ForeignKeyField('models.LoanRule', source_field='rule_id', db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='loans_made', on_delete=OnDelete.SET_NULL)),
                ('checked_out_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('renewals', fields.SmallIntField(default=0)),
                ('overdue_days_charged', fields.SmallIntField(default=0)),
                ('returned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('return_library', fields.ForeignKeyField('models.Library', source_field='return_library_id', null=True, db_constraint=True, to_field='id', related_name='loans_returned', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'loan', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'returned_at'])], 'pk_attr': 'id', 'table_description': 'A copy lent to a reader. At most one open loan per copy: a partial unique index (migration) says so.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Suspension',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='suspensions', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='SUSPENDED: suspended\nBLACKLISTED: blacklisted', enum_type=SuspensionKind, max_length=20)),
                ('reason', fields.CharField(max_length=200)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lifted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='suspensions', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'suspension', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reader barred from borrowing, with the reason they are shown and until when.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Reader',
            name='keeps_reading_history',
            field=fields.BooleanField(default=False),
        ),
        ops.RunPython(create_defaults),
    ]
