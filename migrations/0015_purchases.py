from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.accounts.models import StaffRole
from backend.catalog.models import ItemType
from backend.purchases.models import PurchaseState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

# Reader-chosen purchases (你选书我买单, issue 16): partner bookstores of a main library with their stock feed (one row
# per shop and ISBN), a main library's own purchase rules (each column overrides the network's default), its
# reader-choice budget per year and month (never overspent: a CHECK, besides the conditional UPDATEs), the purchases
# made in the shops and the shops' monthly statements. Bookstore clerks are staff accounts of role `bookstore_clerk`
# tied to their shop. A copy bought for a reader is lent before it is catalogued (`unprocessed`): when it comes back it
# goes to its home library's processing queue. Bought copies' barcodes come from a sequence of their own.
#
# Budgets are one row per main library, year and month (none: the year's): UNIQUE NULLS NOT DISTINCT, which the models
# cannot declare. The CHECK constraints each follow their table as an AddConstraint (CreateModel does not create them).
_BUDGET_KEY = (
    "ALTER TABLE purchase_budget ADD CONSTRAINT purchase_budget_key "
    "UNIQUE NULLS NOT DISTINCT (main_library_id, year, month)",
    "ALTER TABLE purchase_budget DROP CONSTRAINT purchase_budget_key",
)
_BARCODES = ("CREATE SEQUENCE purchase_barcode", "DROP SEQUENCE purchase_barcode")


class Migration(migrations.Migration):
    dependencies = [('models', '0014_reconciliation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bookstore',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('main_library', fields.ForeignKeyField('models.Library', source_field='main_library_id', db_constraint=True, to_field='id', related_name='partner_bookstores', on_delete=OnDelete.RESTRICT)),
                ('address', fields.CharField(default='', max_length=200)),
                ('discount_bp', fields.SmallIntField()),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'purchase_bookstore', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A partner bookstore (新华书店, a library-and-bookshop) of a main library: what a reader picks there, the main'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Bookstore',
            constraint=CheckConstraint(check='discount_bp BETWEEN 0 AND 10000', name='purchase_bookstore_discount'),
        ),
        ops.CreateModel(
            name='Budget',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('main_library', fields.ForeignKeyField('models.Library', source_field='main_library_id', db_constraint=True, to_field='id', related_name='purchase_budgets', on_delete=OnDelete.RESTRICT)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField(null=True)),
                ('total_fen', fields.BigIntField()),
                ('reserved_fen', fields.BigIntField(default=0)),
                ('spent_fen', fields.BigIntField(default=0)),
            ],
            options={'table': 'purchase_budget', 'app': 'models', 'pk_attr': 'id', 'table_description': "A main library's reader-choice budget for a year (month empty), or a month's share of it. What is reserved"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Budget',
            constraint=CheckConstraint(check='reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= total_fen', name='purchase_budget_never_overspent'),
        ),
        ops.AddConstraint(
            model_name='Budget',
            constraint=CheckConstraint(check='month IS NULL OR month BETWEEN 1 AND 12', name='purchase_budget_month'),
        ),
        ops.CreateModel(
            name='PurchaseRules',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('main_library', fields.OneToOneField('models.Library', source_field='main_library_id', db_constraint=True, to_field='id', related_name='purchase_rules', on_delete=OnDelete.CASCADE)),
                ('holdings_threshold', fields.SmallIntField(null=True)),
                ('price_cap_fen', fields.IntField(null=True)),
                ('max_age_years', fields.SmallIntField(null=True)),
                ('excluded_classes', fields.CharField(null=True, max_length=500)),
                ('excluded_keywords', fields.CharField(null=True, max_length=500)),
                ('excluded_item_types', fields.CharField(null=True, max_length=100)),
                ('monthly_quota', fields.SmallIntField(null=True)),
                ('max_unreturned', fields.SmallIntField(null=True)),
                ('loan_days', fields.SmallIntField(null=True)),
            ],
            options={'table': 'purchase_rules', 'app': 'models', 'pk_attr': 'id', 'table_description': "A main library's own purchase rules: each column it states (not null) overrides the network's default from"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Statement',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bookstore', fields.ForeignKeyField('models.Bookstore', source_field='bookstore_id', db_constraint=True, to_field='id', related_name='statements', on_delete=OnDelete.RESTRICT)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField()),
                ('books', fields.IntField()),
                ('list_total_fen', fields.BigIntField()),
                ('due_fen', fields.BigIntField()),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='purchase_statements', on_delete=OnDelete.SET_NULL)),
                ('settled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'purchase_statement', 'app': 'models', 'unique_together': (('bookstore_id', 'year', 'month'),), 'pk_attr': 'id', 'table_description': "A bookstore's monthly settlement: what it sold the library that month, and what the library owes it."},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Statement',
            constraint=CheckConstraint(check='month BETWEEN 1 AND 12', name='purchase_statement_month'),
        ),
        ops.CreateModel(
            name='Purchase',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bookstore', fields.ForeignKeyField('models.Bookstore', source_field='bookstore_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('main_library', fields.ForeignKeyField('models.Library', source_field='main_library_id', db_constraint=True, to_field='id', related_name='reader_purchases', on_delete=OnDelete.RESTRICT)),
                ('branch', fields.ForeignKeyField('models.Library', source_field='branch_id', null=True, db_constraint=True, to_field='id', related_name='branch_purchases', on_delete=OnDelete.SET_NULL)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.SET_NULL)),
                ('clerk', fields.ForeignKeyField('models.StaffUser', source_field='clerk_id', null=True, db_constraint=True, to_field='id', related_name='purchases_approved', on_delete=OnDelete.SET_NULL)),
                ('isbn13', fields.CharField(max_length=13)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('copy', fields.OneToOneField('models.Copy', source_field='copy_id', db_constraint=True, to_field='id', related_name='purchase', on_delete=OnDelete.RESTRICT)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('clc_class', fields.CharField(default='', max_length=40)),
                ('list_price_fen', fields.IntField()),
                ('discount_bp', fields.SmallIntField()),
                ('price_fen', fields.IntField()),
                ('state', fields.CharEnumField(default=PurchaseState.RESERVED, description='RESERVED: reserved\nSPENT: spent\nRELEASED: released', enum_type=PurchaseState, max_length=10)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField()),
                ('statement', fields.ForeignKeyField('models.Statement', source_field='statement_id', null=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT)),
                ('approved_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'purchase', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'year', 'month']), Index(fields=['bookstore_id', 'year', 'month']), Index(fields=['main_library_id', 'year'])], 'pk_attr': 'id', 'table_description': 'A book the library bought for a reader in a shop: the copy made of it, its loan to the reader, and what it'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StockItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bookstore', fields.ForeignKeyField('models.Bookstore', source_field='bookstore_id', db_constraint=True, to_field='id', related_name='stock', on_delete=OnDelete.CASCADE)),
                ('isbn13', fields.CharField(db_index=True, max_length=13)),
                ('title', fields.CharField(max_length=500)),
                ('authors', fields.CharField(default='', max_length=500)),
                ('publisher', fields.CharField(default='', max_length=200)),
                ('year', fields.SmallIntField()),
                ('list_price_fen', fields.IntField()),
                ('quantity', fields.IntField()),
                ('clc_class', fields.CharField(default='', max_length=40)),
                ('item_type', fields.CharEnumField(default=ItemType.BOOK, description='BOOK: book\nPICTURE_BOOK: picture_book\nPERIODICAL: periodical\nAUDIOVISUAL: audiovisual', enum_type=ItemType, max_length=20)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'purchase_stock', 'app': 'models', 'unique_together': (('bookstore_id', 'isbn13'),), 'pk_attr': 'id', 'table_description': 'A title a bookstore has for sale, as its stock feed last said: one row per shop and ISBN.'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='StockItem',
            constraint=CheckConstraint(check='list_price_fen >= 0', name='purchase_stock_price_not_negative'),
        ),
        ops.AddConstraint(
            model_name='StockItem',
            constraint=CheckConstraint(check='quantity >= 0', name='purchase_stock_quantity_not_negative'),
        ),
        ops.AddField(
            model_name='Copy',
            name='unprocessed',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AlterField(
            model_name='StaffUser',
            name='role',
            field=fields.CharEnumField(description='NETWORK_ADMIN: network_admin\nLIBRARY_ADMIN: library_admin\nLIBRARIAN: librarian\nENROLLER: enroller\nBOOKSTORE_CLERK: bookstore_clerk', enum_type=StaffRole, max_length=20),
        ),
        ops.AddField(
            model_name='StaffUser',
            name='bookstore',
            field=fields.ForeignKeyField('models.Bookstore', source_field='bookstore_id', null=True, db_constraint=True, to_field='id', related_name='clerks', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddConstraint(
            model_name='StaffUser',
            constraint=CheckConstraint(check="(role = 'bookstore_clerk') = (bookstore_id IS NOT NULL)", name='staff_user_clerk_bookstore'),
        ),
        ops.RunSQL(_BUDGET_KEY[0], reverse_sql=_BUDGET_KEY[1]),
        ops.RunSQL(_BARCODES[0], reverse_sql=_BARCODES[1]),
    ]
